package qcow2

import (
	"bufio"
	"encoding/binary"
	"io"
	"os"
)

var be = binary.BigEndian

// write emits the image described by l, copying data clusters from raw.
// Everything is written in file order through one buffer.
func write(out *os.File, raw *os.File, l *layout) error {
	w := bufio.NewWriterSize(out, 1<<20)
	for _, step := range []func(*bufio.Writer, *layout) error{writeHeader, writeL1, writeRefcountTable, writeRefcountBlocks, writeL2} {
		if err := step(w, l); err != nil {
			return err
		}
	}
	if err := copyData(w, raw, l); err != nil {
		return err
	}
	return w.Flush()
}

// writeHeader writes cluster 0: the version 3 header (104 bytes, no
// optional fields) followed by zeros, which also end the header
// extensions.
func writeHeader(w *bufio.Writer, l *layout) error {
	h := make([]byte, clusterSize)
	copy(h[0:], "QFI\xfb")
	be.PutUint32(h[4:], 3)
	be.PutUint32(h[20:], clusterBits)
	be.PutUint64(h[24:], uint64(l.size))
	be.PutUint32(h[36:], uint32(l.l1Size))
	be.PutUint64(h[40:], uint64(l.l1Off))
	be.PutUint64(h[48:], uint64(l.rtOff))
	be.PutUint32(h[56:], uint32(l.rtClusters))
	be.PutUint32(h[96:], 4) // refcount_order: 16-bit refcounts
	be.PutUint32(h[100:], 104)
	_, err := w.Write(h)
	return err
}

func writeL1(w *bufio.Writer, l *layout) error {
	entries := make([]uint64, l.l1Size)
	for n, i := range l.l2Used {
		entries[i] = uint64(l.l2Off+int64(n)*clusterSize) | copiedFlag
	}
	return writeTable(w, entries, (l.rtOff-l.l1Off)/8)
}

func writeRefcountTable(w *bufio.Writer, l *layout) error {
	entries := make([]uint64, l.rbClusters)
	for i := range entries {
		entries[i] = uint64(l.rbOff + int64(i)*clusterSize)
	}
	return writeTable(w, entries, l.rtClusters*rtEntries)
}

// writeRefcountBlocks gives every cluster of the file refcount 1.
func writeRefcountBlocks(w *bufio.Writer, l *layout) error {
	blk := make([]byte, clusterSize)
	for b := int64(0); b < l.rbClusters; b++ {
		clear(blk)
		n := min(rcEntries, l.total-b*rcEntries)
		for i := int64(0); i < n; i++ {
			be.PutUint16(blk[2*i:], 1)
		}
		if _, err := w.Write(blk); err != nil {
			return err
		}
	}
	return nil
}

// writeL2 writes one L2 table per used L1 entry; data clusters follow in
// guest order, so the k-th stored cluster is at dataOff + k clusters.
func writeL2(w *bufio.Writer, l *layout) error {
	entries := make([]uint64, l2Entries)
	k := 0
	for _, i := range l.l2Used {
		clear(entries)
		for ; k < len(l.data) && int64(l.data[k])/l2Entries == i; k++ {
			off := l.dataOff + int64(k)*clusterSize
			entries[int64(l.data[k])%l2Entries] = uint64(off) | copiedFlag
		}
		if err := writeTable(w, entries, l2Entries); err != nil {
			return err
		}
	}
	return nil
}

// writeTable writes entries big-endian, padded with zero entries to n.
func writeTable(w *bufio.Writer, entries []uint64, n int64) error {
	var b [8]byte
	for i := int64(0); i < n; i++ {
		v := uint64(0)
		if i < int64(len(entries)) {
			v = entries[i]
		}
		be.PutUint64(b[:], v)
		if _, err := w.Write(b[:]); err != nil {
			return err
		}
	}
	return nil
}

// copyData copies the stored clusters; the raw image's last cluster may
// be short and is padded with zeros.
func copyData(w *bufio.Writer, raw *os.File, l *layout) error {
	buf := make([]byte, clusterSize)
	for _, c := range l.data {
		clear(buf)
		if _, err := raw.ReadAt(buf, int64(c)*clusterSize); err != nil && err != io.EOF {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}
