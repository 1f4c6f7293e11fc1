package squashfs

import "encoding/binary"

const (
	superblockSize = 96
	magic          = 0x73717368
	noTable        = 0xFFFFFFFFFFFFFFFF

	flagAlwaysFragments = 0x0020
	flagNoXattrs        = 0x0200
)

type superblock struct {
	inodes        uint32
	modTime       uint32
	blockSize     uint32
	fragments     uint32
	compression   uint16
	blockLog      uint16
	flags         uint16
	ids           uint16
	rootInode     uint64
	bytesUsed     uint64
	idTable       uint64
	inodeTable    uint64
	dirTable      uint64
	fragmentTable uint64
}

func (s *superblock) marshal() []byte {
	le := binary.LittleEndian
	b := make([]byte, 0, superblockSize)
	b = le.AppendUint32(b, magic)
	b = le.AppendUint32(b, s.inodes)
	b = le.AppendUint32(b, s.modTime)
	b = le.AppendUint32(b, s.blockSize)
	b = le.AppendUint32(b, s.fragments)
	b = le.AppendUint16(b, s.compression)
	b = le.AppendUint16(b, s.blockLog)
	b = le.AppendUint16(b, s.flags)
	b = le.AppendUint16(b, s.ids)
	b = le.AppendUint16(b, 4) // version 4.0
	b = le.AppendUint16(b, 0)
	b = le.AppendUint64(b, s.rootInode)
	b = le.AppendUint64(b, s.bytesUsed)
	b = le.AppendUint64(b, s.idTable)
	b = le.AppendUint64(b, noTable) // xattr id table
	b = le.AppendUint64(b, s.inodeTable)
	b = le.AppendUint64(b, s.dirTable)
	b = le.AppendUint64(b, s.fragmentTable)
	return le.AppendUint64(b, noTable) // export (lookup) table
}
