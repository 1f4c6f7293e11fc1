package ami

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/google/uuid"
)

// snapshotTimeout is how long EBS keeps a pending snapshot that receives
// no block before it cancels it: the window in which a rerun resumes.
const snapshotTimeout = 60 // minutes

// startSnapshot begins a new snapshot for p and returns its state.
func startSnapshot(ctx context.Context, c *ebs.Client, p *plan, region string, volumeGiB int64, desc string) (*state, error) {
	token := uuid.NewString() // one per snapshot: the SDK's retries reuse it
	out, err := c.StartSnapshot(ctx, &ebs.StartSnapshotInput{
		VolumeSize:  aws.Int64(volumeGiB),
		Description: aws.String(desc),
		ClientToken: aws.String(token),
		Timeout:     aws.Int32(snapshotTimeout),
	})
	if err != nil {
		return nil, fmt.Errorf("ebs StartSnapshot: %w", err)
	}
	if out.SnapshotId == nil {
		return nil, errors.New("ebs StartSnapshot: no snapshot id in the answer")
	}
	if bs := aws.ToInt32(out.BlockSize); bs != 0 && bs != BlockSize {
		return nil, fmt.Errorf("ebs StartSnapshot: block size %d, expected %d", bs, BlockSize)
	}
	return &state{SnapshotID: *out.SnapshotId, Region: region, ClientToken: token, ImageSHA256: p.digest, ImageSize: p.size}, nil
}

// sender puts the blocks of a plan that the state does not list yet.
type sender struct {
	c         *ebs.Client
	p         *plan
	st        *state
	statePath string
	parallel  int
	every     int                     // checkpoint the state after this many blocks
	progress  func(done, total int64) // bytes, may be nil

	mu      sync.Mutex
	pending int // blocks acknowledged since the last checkpoint
	sent    int // blocks acknowledged in this run
	done    int64
}

// todo lists the positions in p.blocks still to send.
func (s *sender) todo() []int {
	var out []int
	for i, b := range s.p.blocks {
		if _, sent := slices.BinarySearch(s.st.Sent, b); !sent {
			out = append(out, i)
		}
	}
	return out
}

// run sends the blocks with a bounded pool, checkpointing as it goes and
// once more on the way out whatever the outcome.
func (s *sender) run(ctx context.Context) (int, error) {
	slices.Sort(s.st.Sent)
	todo := s.todo()
	f, err := os.Open(s.p.image)
	if err != nil {
		return 0, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(1, s.parallel) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, BlockSize)
			for i := range work {
				if err := s.put(ctx, f, i, buf); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, i := range todo {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := context.Cause(ctx); err != nil {
		s.st.save(s.statePath) // best effort: the upload error matters more
		return s.sent, err
	}
	return s.sent, s.st.save(s.statePath)
}

// put sends block p.blocks[i], checking it still reads as planned (the
// aggregate checksum was computed from the plan).
func (s *sender) put(ctx context.Context, f *os.File, i int, buf []byte) error {
	idx := s.p.blocks[i]
	data, err := readBlock(f, s.p.size, idx, buf)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if sha256.Sum256(data) != s.p.sums[i] {
		return fmt.Errorf("image %s: block %d changed during the upload", s.p.image, idx)
	}
	in := &ebs.PutSnapshotBlockInput{
		SnapshotId:        aws.String(s.st.SnapshotID),
		BlockIndex:        aws.Int32(int32(idx)),
		DataLength:        aws.Int32(BlockSize),
		Checksum:          aws.String(checksum(s.p.sums[i])),
		ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
	}
	if err := s.putRetry(ctx, in, data); err != nil {
		return fmt.Errorf("ebs PutSnapshotBlock %d: %w", idx, err)
	}
	return s.acknowledged(idx)
}

// putRetry retries a block the SDK does not: a snapshot that was just
// started may not be visible to PutSnapshotBlock for a few seconds.
func (s *sender) putRetry(ctx context.Context, in *ebs.PutSnapshotBlockInput, data []byte) error {
	delay := time.Second
	for attempt := 1; ; attempt++ {
		in.BlockData = bytes.NewReader(data)
		_, err := s.c.PutSnapshotBlock(ctx, in)
		var nf *ebstypes.ResourceNotFoundException
		if err == nil || !errors.As(err, &nf) || attempt == 6 {
			return err
		}
		select {
		case <-time.After(delay):
			delay *= 2
		case <-ctx.Done():
			return err
		}
	}
}

func (s *sender) acknowledged(idx int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Sent = append(s.st.Sent, idx)
	s.sent++
	s.done += BlockSize
	if s.progress != nil {
		s.progress(s.done, s.total())
	}
	if s.pending++; s.pending >= max(1, s.every) {
		s.pending = 0
		return s.st.save(s.statePath)
	}
	return nil
}

func (s *sender) total() int64 {
	return int64(len(s.p.blocks)-len(s.st.Sent))*BlockSize + s.done
}

// completeSnapshot seals the snapshot: EBS checks the block count and
// the aggregate checksum against what it stored.
func completeSnapshot(ctx context.Context, c *ebs.Client, p *plan, id string) error {
	_, err := c.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{
		SnapshotId:                aws.String(id),
		ChangedBlocksCount:        aws.Int32(int32(len(p.blocks))),
		Checksum:                  aws.String(p.aggregate()),
		ChecksumAlgorithm:         ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
		ChecksumAggregationMethod: ebstypes.ChecksumAggregationMethodChecksumAggregationLinear,
	})
	if err != nil {
		return fmt.Errorf("ebs CompleteSnapshot %s: %w", id, err)
	}
	return nil
}
