package ami

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imgbuild/imgbuild/build/output"
)

// Call is one API call a publish makes, for --dry-run.
type Call struct {
	Service   string         `json:"service"`
	Operation string         `json:"operation"`
	Params    map[string]any `json:"params,omitempty"`
	Note      string         `json:"note,omitempty"`
}

// String is the call on one line, parameters in name order.
func (c Call) String() string {
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", c.Service, c.Operation)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, c.Params[k])
	}
	if c.Note != "" {
		fmt.Fprintf(&b, "  # %s", c.Note)
	}
	return b.String()
}

// dryRun lists the calls a fresh publish would make, in order; it reads
// the state file but asks nothing of AWS, so it needs no credentials.
func dryRun(o Options, reg *output.AWSRegistration, name string, p *plan) ([]Call, error) {
	var calls []Call
	snap := "<new snapshot>"
	st, err := loadState(StatePath(o.Image))
	if err != nil {
		return nil, err
	}
	sent := map[int64]bool{}
	if st != nil && st.mismatch(p, o.Region) == "" {
		snap = st.SnapshotID
		for _, b := range st.Sent {
			sent[b] = true
		}
		calls = append(calls, Call{Service: "ec2", Operation: "DescribeSnapshots", Params: map[string]any{"SnapshotIds": snap},
			Note: fmt.Sprintf("%s: resume if still pending (%d blocks already sent), else start anew", StatePath(o.Image), len(st.Sent))})
	} else {
		calls = append(calls, Call{Service: "ebs", Operation: "StartSnapshot", Params: map[string]any{
			"VolumeSize": reg.VolumeSizeGiB, "Description": fmt.Sprintf("%q", reg.Description),
			"ClientToken": "<random uuid>", "Timeout": snapshotTimeout}})
	}
	var n int
	for i, b := range p.blocks {
		if sent[b] {
			continue
		}
		n++
		calls = append(calls, Call{Service: "ebs", Operation: "PutSnapshotBlock", Params: map[string]any{
			"SnapshotId": snap, "BlockIndex": b, "DataLength": BlockSize,
			"Checksum": checksum(p.sums[i]), "ChecksumAlgorithm": "SHA256"}})
	}
	calls = append(calls,
		Call{Service: "ebs", Operation: "CompleteSnapshot", Params: map[string]any{
			"SnapshotId": snap, "ChangedBlocksCount": len(p.blocks), "Checksum": p.aggregate(),
			"ChecksumAlgorithm": "SHA256", "ChecksumAggregationMethod": "LINEAR"},
			Note: fmt.Sprintf("after %d PutSnapshotBlock calls (%.1f MiB, %d in parallel) of %d blocks; %d all-zero blocks skipped",
				n, float64(int64(n)*BlockSize)/(1<<20), o.Parallel, p.totalBlocks(), p.totalBlocks()-int64(len(p.blocks)))},
		Call{Service: "ec2", Operation: "DescribeSnapshots", Params: map[string]any{"SnapshotIds": snap},
			Note: fmt.Sprintf("repeated until completed, at most %s", o.WaitTimeout)},
	)
	in := registerInput(reg, name, snap)
	dev := in.BlockDeviceMappings[0]
	calls = append(calls, Call{Service: "ec2", Operation: "RegisterImage", Params: map[string]any{
		"Name": fmt.Sprintf("%q", name), "Architecture": in.Architecture, "BootMode": in.BootMode,
		"EnaSupport": aws.ToBool(in.EnaSupport), "ImdsSupport": in.ImdsSupport,
		"RootDeviceName": aws.ToString(in.RootDeviceName), "VirtualizationType": aws.ToString(in.VirtualizationType),
		"BlockDeviceMapping": fmt.Sprintf("%s=%s:%dGiB:%s", aws.ToString(dev.DeviceName), snap, aws.ToInt32(dev.Ebs.VolumeSize), dev.Ebs.VolumeType)}})
	return calls, nil
}
