package qcow2

// layout places every structure of the image, in file order: header
// (cluster 0), L1 table, refcount table, refcount blocks, L2 tables,
// data clusters. Every cluster up to total is used exactly once, so
// every refcount is 1 and there are no leaks.
type layout struct {
	size       int64    // virtual size
	data       []uint32 // guest cluster index of each stored data cluster
	l1Size     int64    // L1 entries
	l2Used     []int64  // L1 indices that get an L2 table
	l1Off      int64    // byte offsets
	rtOff      int64
	rbOff      int64
	l2Off      int64
	dataOff    int64
	rtClusters int64
	rbClusters int64
	total      int64 // clusters in the file
}

func newLayout(size int64, data []uint32) *layout {
	l := &layout{size: size, data: data}
	l.l1Size = ceilDiv(ceilDiv(size, clusterSize), l2Entries)
	for _, c := range data {
		i := int64(c) / l2Entries
		if n := len(l.l2Used); n == 0 || l.l2Used[n-1] != i {
			l.l2Used = append(l.l2Used, i)
		}
	}
	l1Clusters := max(1, ceilDiv(l.l1Size*8, clusterSize))
	fixed := 1 + l1Clusters + int64(len(l.l2Used)) + int64(len(data))
	// The refcount structures count themselves: grow them until they
	// cover the whole file.
	l.rtClusters, l.rbClusters = 1, 1
	for {
		l.total = fixed + l.rtClusters + l.rbClusters
		rb := ceilDiv(l.total, rcEntries)
		rt := max(1, ceilDiv(rb, rtEntries))
		if rb == l.rbClusters && rt == l.rtClusters {
			break
		}
		l.rbClusters, l.rtClusters = rb, rt
	}
	l.l1Off = clusterSize
	l.rtOff = l.l1Off + l1Clusters*clusterSize
	l.rbOff = l.rtOff + l.rtClusters*clusterSize
	l.l2Off = l.rbOff + l.rbClusters*clusterSize
	l.dataOff = l.l2Off + int64(len(l.l2Used))*clusterSize
	return l
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
