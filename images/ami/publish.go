package ami

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgbuild/imgbuild/build/output"
)

// Options says what to publish where.
type Options struct {
	Image    string // the raw NAME.img; NAME.aws.json beside it
	Region   string
	Name     string // the AMI name; default the registration's
	Parallel int    // blocks in flight (default 8)
	DryRun   bool   // list the calls, make none
	// WaitTimeout bounds the wait for EBS to finish the snapshot
	// (default 30 minutes); Poll is the first interval (default 5 s).
	WaitTimeout, Poll time.Duration
	// Checkpoint is how many blocks are acknowledged between writes of
	// the state file (default 64, 32 MiB).
	Checkpoint int
	Report     output.Reporter // steps and upload progress, may be nil
	Note       func(string)    // one-line remarks (a state discarded), may be nil
}

// Result is what a publish did.
type Result struct {
	ImageID       string  `json:"image_id,omitempty"`
	SnapshotID    string  `json:"snapshot_id,omitempty"`
	Region        string  `json:"region"`
	Name          string  `json:"name"`
	BlocksTotal   int64   `json:"blocks_total"` // 512 KiB blocks of the volume's image
	BlocksData    int     `json:"blocks_data"`  // of which hold a non-zero byte
	BlocksSent    int     `json:"blocks_sent"`  // by this run
	BytesSent     int64   `json:"bytes_sent"`
	UploadSeconds float64 `json:"upload_seconds"`
	Resumed       bool    `json:"resumed,omitempty"`
	DryRun        bool    `json:"dry_run,omitempty"`
	Calls         []Call  `json:"calls,omitempty"`
}

// Publish uploads the image into a new EBS snapshot (or resumes the
// pending one its state file names) and registers it as an AMI.
func Publish(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	reg, name, err := check(o)
	if err != nil {
		return nil, err
	}
	var ebsc *ebs.Client
	var ec2c *ec2.Client
	if !o.DryRun {
		// credentials first: a user without them learns it before the
		// image is read
		if ebsc, ec2c, err = clients(ctx, o.Region); err != nil {
			return nil, err
		}
	}
	var p *plan
	err = o.Report.Step("read image", func() (string, error) {
		p, err = makePlan(o.Image)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d of %d blocks hold data (%.1f MiB)", len(p.blocks), p.totalBlocks(), float64(p.dataBytes())/(1<<20)), nil
	})
	if err != nil {
		return nil, err
	}
	if max := reg.VolumeSizeGiB << 30; p.size > max {
		return nil, fmt.Errorf("%s: volume_size_gib %d is smaller than the image (%d bytes)", RegistrationPath(o.Image), reg.VolumeSizeGiB, p.size)
	}
	res := &Result{Region: o.Region, Name: name, BlocksTotal: p.totalBlocks(), BlocksData: len(p.blocks)}
	if o.DryRun {
		res.DryRun = true
		res.Calls, err = dryRun(o, reg, name, p)
		return res, err
	}
	pub := &publisher{o: o, reg: reg, name: name, p: p, ebs: ebsc, ec2: ec2c, res: res}
	return res, pub.run(ctx)
}

func (o *Options) defaults() {
	if o.Parallel < 1 {
		o.Parallel = 8
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 30 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Checkpoint < 1 {
		o.Checkpoint = 64
	}
}

// check refuses bad input before reading the image or calling anything.
func check(o Options) (*output.AWSRegistration, string, error) {
	if err := CheckRegion(o.Region); err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(o.Image); err != nil {
		return nil, "", fmt.Errorf("image: %w", err)
	}
	reg, err := LoadRegistration(o.Image)
	if err != nil {
		return nil, "", err
	}
	name := reg.Name
	if o.Name != "" {
		name = o.Name
	}
	if err := checkName(name); err != nil {
		return nil, "", err
	}
	return reg, name, nil
}

type publisher struct {
	o    Options
	reg  *output.AWSRegistration
	name string
	p    *plan
	ebs  *ebs.Client
	ec2  *ec2.Client
	res  *Result
	st   *state
}

func (u *publisher) run(ctx context.Context) error {
	statePath := StatePath(u.o.Image)
	if err := u.resume(ctx, statePath); err != nil {
		return err
	}
	if u.st == nil {
		err := u.o.Report.Step("start snapshot", func() (string, error) {
			st, err := startSnapshot(ctx, u.ebs, u.p, u.o.Region, u.reg.VolumeSizeGiB, u.reg.Description)
			if err != nil {
				return "", err
			}
			u.st = st
			return st.SnapshotID, st.save(statePath)
		})
		if err != nil {
			return err
		}
	}
	u.res.SnapshotID = u.st.SnapshotID
	if !u.st.Completed {
		if err := u.upload(ctx, statePath); err != nil {
			return err
		}
	}
	err := u.o.Report.Step("wait for snapshot", func() (string, error) {
		return "completed", waitSnapshot(ctx, u.ec2, u.st.SnapshotID, u.o.Poll, u.o.WaitTimeout)
	})
	if err != nil {
		return err
	}
	err = u.o.Report.Step("register image", func() (string, error) {
		id, err := registerImage(ctx, u.ec2, registerInput(u.reg, u.name, u.st.SnapshotID))
		u.res.ImageID = id
		return id, err
	})
	if err != nil {
		return err
	}
	if err := os.Remove(statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// resume adopts the state file if it continues this upload, and
// otherwise discards it with a note.
func (u *publisher) resume(ctx context.Context, statePath string) error {
	st, err := loadState(statePath)
	if err != nil || st == nil {
		if err != nil {
			u.note(fmt.Sprintf("discarding %s: %v", statePath, err))
			return removeState(statePath)
		}
		return nil
	}
	if why := st.mismatch(u.p, u.o.Region); why != "" {
		u.note(fmt.Sprintf("discarding %s (snapshot %s): %s", statePath, st.SnapshotID, why))
		return removeState(statePath)
	}
	snap, err := snapshotState(ctx, u.ec2, st.SnapshotID)
	if err != nil {
		return err
	}
	usable := snap.State == ec2types.SnapshotStatePending || st.Completed && snap.State == ec2types.SnapshotStateCompleted
	if !usable {
		state := string(snap.State)
		if state == "" {
			state = "unknown to EC2"
		}
		u.note(fmt.Sprintf("discarding %s: snapshot %s is %s, starting a new one", statePath, st.SnapshotID, state))
		return removeState(statePath)
	}
	u.note(fmt.Sprintf("resuming snapshot %s: %d of %d blocks already sent", st.SnapshotID, len(st.Sent), len(u.p.blocks)))
	u.st, u.res.Resumed = st, true
	return nil
}

func (u *publisher) upload(ctx context.Context, statePath string) error {
	s := &sender{c: u.ebs, p: u.p, st: u.st, statePath: statePath, parallel: u.o.Parallel, every: u.o.Checkpoint}
	s.progress = func(done, total int64) {
		u.o.Report.Send(output.Event{Step: "upload blocks", Status: "progress", Done: done, Total: total})
	}
	start := time.Now()
	err := u.o.Report.Step("upload blocks", func() (string, error) {
		n, err := s.run(ctx)
		u.res.BlocksSent, u.res.BytesSent = n, int64(n)*BlockSize
		secs := time.Since(start).Seconds()
		return fmt.Sprintf("%d blocks, %.1f MiB/s", n, float64(u.res.BytesSent)/(1<<20)/max(secs, 1e-9)), err
	})
	u.res.UploadSeconds = time.Since(start).Seconds()
	if err != nil {
		return err
	}
	return u.o.Report.Step("complete snapshot", func() (string, error) {
		if err := completeSnapshot(ctx, u.ebs, u.p, u.st.SnapshotID); err != nil {
			return "", err
		}
		u.st.Completed = true
		return fmt.Sprintf("%d blocks, checksum %s", len(u.p.blocks), u.p.aggregate()), u.st.save(statePath)
	})
}

func (u *publisher) note(s string) {
	if u.o.Note != nil {
		u.o.Note(s)
	}
}

func removeState(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}
