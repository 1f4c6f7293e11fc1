package amitest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const blockSize = 512 << 10

// ebsError answers in the REST-JSON error form the SDK decodes.
func ebsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

func (s *Server) serveEBS(w http.ResponseWriter, r *http.Request, body []byte) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var op string
	switch {
	case r.Method == http.MethodPost && len(parts) == 1:
		op = "StartSnapshot"
	case r.Method == http.MethodPut && len(parts) == 4 && parts[2] == "blocks":
		op = "PutSnapshotBlock"
	case r.Method == http.MethodPost && len(parts) == 3 && parts[1] == "completion":
		op = "CompleteSnapshot"
	default:
		ebsError(w, http.StatusNotFound, "UnknownOperationException", r.Method+" "+r.URL.Path)
		return
	}
	s.calls = append(s.calls, "ebs "+op)
	if err := s.verify(r, body, "ebs", op == "PutSnapshotBlock"); err != nil {
		s.refuse(w, op, err, func() { ebsError(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error()) })
		return
	}
	var err error
	switch op {
	case "StartSnapshot":
		err = s.startSnapshot(w, body)
	case "PutSnapshotBlock":
		err = s.putSnapshotBlock(w, r, parts[1], parts[3], body)
	case "CompleteSnapshot":
		err = s.completeSnapshot(w, r, parts[2])
	}
	if err != nil {
		s.refuse(w, op, err, func() { ebsError(w, http.StatusBadRequest, "ValidationException", err.Error()) })
	}
}

func (s *Server) startSnapshot(w http.ResponseWriter, body []byte) error {
	var in struct {
		VolumeSize  int64
		Description string
		ClientToken string
		Timeout     int
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return err
	}
	if in.VolumeSize < 1 || in.ClientToken == "" {
		return fmt.Errorf("VolumeSize %d, ClientToken %q", in.VolumeSize, in.ClientToken)
	}
	var snap *Snapshot
	for _, sn := range s.snaps {
		if sn.ClientToken == in.ClientToken {
			snap = sn // idempotent: the same token starts no second snapshot
		}
	}
	if snap == nil {
		snap = &Snapshot{ID: s.id("snap"), Description: in.Description, ClientToken: in.ClientToken,
			VolumeGiB: in.VolumeSize, State: "pending", Blocks: map[int64][]byte{}}
		s.snaps[snap.ID] = snap
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	return json.NewEncoder(w).Encode(map[string]any{"SnapshotId": snap.ID, "Status": snap.State,
		"BlockSize": blockSize, "VolumeSize": snap.VolumeGiB, "Description": snap.Description})
}

func (s *Server) putSnapshotBlock(w http.ResponseWriter, r *http.Request, id, index string, body []byte) error {
	snap := s.snaps[id]
	if snap == nil || snap.State != "pending" || snap.Completed {
		return fmt.Errorf("snapshot %s is not pending", id)
	}
	idx, err := strconv.ParseInt(index, 10, 32)
	if err != nil || idx < 0 || idx >= snap.VolumeGiB<<30/blockSize {
		return fmt.Errorf("block index %q outside the %d GiB volume", index, snap.VolumeGiB)
	}
	if l := r.Header.Get("X-Amz-Data-Length"); l != strconv.Itoa(blockSize) || len(body) != blockSize {
		return fmt.Errorf("block %d: x-amz-Data-Length %s, %d bytes: must be %d", idx, l, len(body), blockSize)
	}
	if a := r.Header.Get("X-Amz-Checksum-Algorithm"); a != "SHA256" {
		return fmt.Errorf("block %d: checksum algorithm %q", idx, a)
	}
	if !signed(r, "x-amz-checksum") {
		return errors.New("x-amz-Checksum is not signed: nothing would protect the unsigned block data")
	}
	sum := sha256.Sum256(body)
	if got, want := r.Header.Get("X-Amz-Checksum"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("block %d: checksum %s, the data's is %s", idx, got, want)
	}
	if s.failAfter > 0 && s.accepted >= s.failAfter {
		return fmt.Errorf("block %d: injected failure after %d blocks", idx, s.failAfter)
	}
	s.accepted++
	snap.Blocks[idx] = body
	snap.Puts = append(snap.Puts, idx)
	w.Header().Set("X-Amz-Checksum", r.Header.Get("X-Amz-Checksum"))
	w.Header().Set("X-Amz-Checksum-Algorithm", "SHA256")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func signed(r *http.Request, header string) bool {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	return err == nil && slices.Contains(a.signedHeaders, header)
}

// completeSnapshot checks the count and the LINEAR aggregate: SHA-256
// over the binary block digests in ascending block order.
func (s *Server) completeSnapshot(w http.ResponseWriter, r *http.Request, id string) error {
	snap := s.snaps[id]
	if snap == nil || snap.Completed {
		return fmt.Errorf("snapshot %s is not pending", id)
	}
	if n := r.Header.Get("X-Amz-Changedblockscount"); n != strconv.Itoa(len(snap.Blocks)) {
		return fmt.Errorf("ChangedBlocksCount %s, %d blocks were written", n, len(snap.Blocks))
	}
	if a, m := r.Header.Get("X-Amz-Checksum-Algorithm"), r.Header.Get("X-Amz-Checksum-Aggregation-Method"); a != "SHA256" || m != "LINEAR" {
		return fmt.Errorf("checksum algorithm %q, aggregation %q", a, m)
	}
	idx := make([]int64, 0, len(snap.Blocks))
	for i := range snap.Blocks {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	h := sha256.New()
	for _, i := range idx {
		sum := sha256.Sum256(snap.Blocks[i])
		h.Write(sum[:])
	}
	if got, want := r.Header.Get("X-Amz-Checksum"), base64.StdEncoding.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("aggregate checksum %s, the blocks' is %s", got, want)
	}
	snap.Completed = true
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	return json.NewEncoder(w).Encode(map[string]string{"Status": "pending"})
}
