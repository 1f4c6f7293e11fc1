// Package amitest is an in-process fake of the EBS direct API
// (StartSnapshot, PutSnapshotBlock, CompleteSnapshot) and of EC2's
// DescribeSnapshots and RegisterImage, listening on 127.0.0.1. It checks
// what AWS would check (the SigV4 signature of every request, every
// block's checksum, the aggregate checksum) and keeps the blocks so a
// test can compare them with the image.
package amitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
)

// Server is the fake. Its fields are safe to read after the client is
// done; use the methods while it runs.
type Server struct {
	URL                          string
	Region, AccessKey, SecretKey string

	srv *httptest.Server
	mu  sync.Mutex
	// failAfter > 0: PutSnapshotBlock is refused once that many blocks
	// have been accepted, as if the connection had broken.
	failAfter int
	accepted  int
	// pendingPolls is how many DescribeSnapshots answer "pending" after
	// CompleteSnapshot before "completed".
	pendingPolls int
	snaps        map[string]*Snapshot
	images       map[string]Image
	calls        []string
	refused      []string
	n            int
}

// Snapshot is a snapshot the fake holds.
type Snapshot struct {
	ID, Description, ClientToken string
	VolumeGiB                    int64
	State                        string // pending, completed
	Blocks                       map[int64][]byte
	Puts                         []int64 // block indices in order of arrival
	Completed                    bool
	polls                        int
}

// Image is a registered AMI: the RegisterImage parameters as sent.
type Image struct {
	ID     string
	Params map[string]string
}

// New starts a fake for region that accepts the given credentials.
func New(region, accessKey, secretKey string) *Server {
	s := &Server{Region: region, AccessKey: accessKey, SecretKey: secretKey,
		snaps: map[string]*Snapshot{}, images: map[string]Image{}, pendingPolls: 1}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// FailBlocksAfter makes PutSnapshotBlock fail once n blocks in all have
// been accepted (0: never).
func (s *Server) FailBlocksAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAfter, s.accepted = n, 0
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/snapshots") {
		s.serveEBS(w, r, body)
		return
	}
	s.serveEC2(w, r, body)
}

// refuse records why a request was refused and answers it.
func (s *Server) refuse(w http.ResponseWriter, op string, why error, reply func()) {
	s.refused = append(s.refused, fmt.Sprintf("%s: %v", op, why))
	reply()
}

// Calls lists the operations received, as "service Operation", in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Refused lists the requests the fake refused, with why.
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// Snapshot returns the snapshot with id, or nil.
func (s *Server) Snapshot(id string) *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snaps[id]
}

// Images returns the registered AMIs by id.
func (s *Server) Images() map[string]Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Image{}
	for k, v := range s.images {
		out[k] = v
	}
	return out
}

// Assemble is the disk a volume made of snap would read: its blocks at
// their offsets, zeros elsewhere, cut to size bytes.
func (snap *Snapshot) Assemble(size int64) []byte {
	out := make([]byte, size)
	idx := make([]int64, 0, len(snap.Blocks))
	for i := range snap.Blocks {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	for _, i := range idx {
		if off := i * blockSize; off < size {
			copy(out[off:], snap.Blocks[i])
		}
	}
	return out
}

func (s *Server) id(prefix string) string {
	s.n++
	return fmt.Sprintf("%s-%017x", prefix, s.n)
}

// SetPendingPolls sets how many DescribeSnapshots answer "pending" after
// CompleteSnapshot (default 1).
func (s *Server) SetPendingPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pendingPolls = n
}
