package ami

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/imgbuild/imgbuild/build/output"
)

// snapshotState asks EC2 for the state of a snapshot; "" if EC2 does not
// know it (any more).
func snapshotState(ctx context.Context, c *ec2.Client, id string) (ec2types.Snapshot, error) {
	out, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "InvalidSnapshot.NotFound" {
		return ec2types.Snapshot{}, nil
	}
	if err != nil {
		return ec2types.Snapshot{}, fmt.Errorf("ec2 DescribeSnapshots %s: %w", id, err)
	}
	for _, s := range out.Snapshots {
		if aws.ToString(s.SnapshotId) == id {
			return s, nil
		}
	}
	return ec2types.Snapshot{}, nil
}

// waitSnapshot polls until EBS has finished the snapshot, backing off
// from poll to 30 s, for at most timeout.
func waitSnapshot(ctx context.Context, c *ec2.Client, id string, poll, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for delay := poll; ; delay = min(delay*3/2, 30*time.Second) {
		s, err := snapshotState(ctx, c, id)
		if err != nil {
			return err
		}
		switch s.State {
		case ec2types.SnapshotStateCompleted:
			return nil
		case ec2types.SnapshotStateError:
			return fmt.Errorf("snapshot %s failed: %s", id, aws.ToString(s.StateMessage))
		case "":
			return fmt.Errorf("snapshot %s: EC2 does not know it", id)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("snapshot %s: not completed after %s (rerun to wait again)", id, timeout)
			}
			return ctx.Err()
		}
	}
}

// registerInput is the RegisterImage call for a snapshot of the image.
func registerInput(r *output.AWSRegistration, name, snapshotID string) *ec2.RegisterImageInput {
	return &ec2.RegisterImageInput{
		Name:               aws.String(name),
		Description:        aws.String(r.Description),
		Architecture:       ec2types.ArchitectureValues(r.Architecture),
		BootMode:           ec2types.BootModeValues(r.BootMode),
		EnaSupport:         aws.Bool(r.EnaSupport),
		ImdsSupport:        ec2types.ImdsSupportValues(r.ImdsSupport),
		RootDeviceName:     aws.String(r.RootDeviceName),
		VirtualizationType: aws.String(r.VirtualizationType),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: aws.String(r.RootDeviceName),
			Ebs: &ec2types.EbsBlockDevice{
				SnapshotId:          aws.String(snapshotID),
				VolumeSize:          aws.Int32(int32(r.VolumeSizeGiB)),
				VolumeType:          ec2types.VolumeTypeGp3,
				DeleteOnTermination: aws.Bool(true),
			},
		}},
	}
}

func registerImage(ctx context.Context, c *ec2.Client, in *ec2.RegisterImageInput) (string, error) {
	out, err := c.RegisterImage(ctx, in)
	if err != nil {
		return "", fmt.Errorf("ec2 RegisterImage %s: %w", aws.ToString(in.Name), err)
	}
	if out.ImageId == nil {
		return "", errors.New("ec2 RegisterImage: no image id in the answer")
	}
	return *out.ImageId, nil
}
