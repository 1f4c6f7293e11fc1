package ami

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/build/output"
	"github.com/imgbuild/imgbuild/images/ami/amitest"
)

const (
	testRegion = "eu-west-1"
	testKey    = "AKIDIMGBUILDTEST"
	testSecret = "imgbuild/test/secret/key/0123456789abcdef"
)

// testImage writes NAME.img with holes, data, an allocated all-zero
// block, data across a block boundary and in the last partial block,
// and its registration; it returns the image path.
func testImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "test.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const size = 9*BlockSize + 100<<10 // the last block is partial
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	write := func(off int64, b []byte) {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	write(0, bytes.Repeat([]byte("GPT!"), 1024))                    // block 0
	write(3*BlockSize, make([]byte, BlockSize))                     // block 3: allocated, all zero
	write(5*BlockSize-10, []byte("across the boundary of 4 and 5")) // blocks 4 and 5
	write(7*BlockSize+BlockSize-1, []byte{0xff})                    // block 7, its last byte
	write(size-3, []byte{1, 2, 3})                                  // block 9, partial
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	writeRegistration(t, path, output.AWSRegistration{Name: "test-1.0.0", Description: "test 1.0.0 (imgbuild)",
		Architecture: "x86_64", BootMode: "uefi", EnaSupport: true, ImdsSupport: "v2.0",
		RootDeviceName: "/dev/xvda", VirtualizationType: "hvm", VolumeSizeGiB: 1})
	return path
}

func writeRegistration(t *testing.T, image string, r output.AWSRegistration) {
	t.Helper()
	data, _ := json.Marshal(r)
	if err := os.WriteFile(RegistrationPath(image), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dataBlocks finds the blocks holding a non-zero byte the naive way,
// independently of the sparse package.
func dataBlocks(t *testing.T, image string) []int64 {
	data, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for off := 0; off < len(data); off += BlockSize {
		if bytes.ContainsFunc(data[off:min(off+BlockSize, len(data))], func(r rune) bool { return r != 0 }) {
			out = append(out, int64(off/BlockSize))
		}
	}
	return out
}

// fake starts the fake and points the SDK's standard configuration at
// it: static credentials from the environment, the endpoint overrides,
// no profile files, no instance metadata.
func fake(t *testing.T, secret string) *amitest.Server {
	t.Helper()
	f := amitest.New(testRegion, testKey, testSecret)
	t.Cleanup(f.Close)
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_ENDPOINT_URL_EBS", f.URL)
	t.Setenv("AWS_ENDPOINT_URL_EC2", f.URL)
	return f
}

// isolate hides this machine's AWS configuration and credentials.
func isolate(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // never ask 169.254.169.254
}

func options(image string) Options {
	return Options{Image: image, Region: testRegion, Poll: 1, WaitTimeout: 1 << 40}
}

// checkSnapshot asserts the fake's snapshot reassembles into the image
// byte for byte and holds exactly its data blocks.
func checkSnapshot(t *testing.T, f *amitest.Server, id, image string) *amitest.Snapshot {
	t.Helper()
	snap := f.Snapshot(id)
	if snap == nil {
		t.Fatalf("the fake has no snapshot %s", id)
	}
	raw, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Assemble(int64(len(raw))); !bytes.Equal(got, raw) {
		t.Fatalf("the snapshot does not reassemble into the image")
	}
	var got []int64
	for i := range snap.Blocks {
		got = append(got, i)
	}
	slices.Sort(got)
	if want := dataBlocks(t, image); !slices.Equal(got, want) {
		t.Fatalf("snapshot blocks %v, the image's data blocks are %v", got, want)
	}
	return snap
}

func TestPublish(t *testing.T) {
	image := testImage(t)
	f := fake(t, testSecret)
	var notes []string
	o := options(image)
	o.Note = func(s string) { notes = append(notes, s) }
	res, err := Publish(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Refused(); len(r) > 0 {
		t.Fatalf("the fake refused: %q", r)
	}
	snap := checkSnapshot(t, f, res.SnapshotID, image)
	if len(snap.Puts) != len(snap.Blocks) {
		t.Errorf("%d puts for %d blocks: some sent twice", len(snap.Puts), len(snap.Blocks))
	}
	if res.BlocksData != 5 || res.BlocksSent != 5 || res.BlocksTotal != 10 || res.Resumed {
		t.Errorf("result %+v: want 5 of 10 blocks (0, 4, 5, 7, 9) sent, not resumed", res)
	}
	img, ok := f.Images()[res.ImageID]
	if !ok {
		t.Fatalf("image %s was not registered: %v", res.ImageID, f.Images())
	}
	for k, v := range map[string]string{"Name": "test-1.0.0", "RootDeviceName": "/dev/xvda",
		"BlockDeviceMapping.1.Ebs.SnapshotId": res.SnapshotID, "BlockDeviceMapping.1.Ebs.VolumeSize": "1"} {
		if img.Params[k] != v {
			t.Errorf("RegisterImage %s=%q, want %q", k, img.Params[k], v)
		}
	}
	calls := f.Calls()
	if calls[0] != "ebs StartSnapshot" || calls[len(calls)-1] != "ec2 RegisterImage" || !slices.Contains(calls, "ebs CompleteSnapshot") {
		t.Errorf("calls %q", calls)
	}
	if _, err := os.Stat(StatePath(image)); !os.IsNotExist(err) {
		t.Errorf("the state file is left after success: %v", err)
	}
	if len(notes) > 0 {
		t.Errorf("notes on a fresh publish: %q", notes)
	}
}

func TestResume(t *testing.T) {
	image := testImage(t)
	f := fake(t, testSecret)
	f.FailBlocksAfter(3)
	o := options(image)
	o.Parallel, o.Checkpoint = 1, 3
	if _, err := Publish(context.Background(), o); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("first run: %v, want the injected failure", err)
	}
	st, err := loadState(StatePath(image))
	if err != nil || st == nil {
		t.Fatalf("no state after the interrupted upload: %v", err)
	}
	if len(st.Sent) != 3 || st.Completed {
		t.Fatalf("state lists %v (completed %v), want the 3 accepted blocks", st.Sent, st.Completed)
	}
	first := append([]int64(nil), f.Snapshot(st.SnapshotID).Puts...)

	f.FailBlocksAfter(0)
	var notes []string
	o.Note = func(s string) { notes = append(notes, s) }
	res, err := Publish(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.SnapshotID != st.SnapshotID || res.BlocksSent != 2 {
		t.Fatalf("second run %+v: want snapshot %s resumed with the 2 missing blocks", res, st.SnapshotID)
	}
	snap := checkSnapshot(t, f, res.SnapshotID, image)
	second := snap.Puts[len(first):]
	for _, b := range second {
		if slices.Contains(first, b) {
			t.Errorf("block %d sent again (first run %v, second %v)", b, first, second)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "resuming") {
		t.Errorf("notes %q", notes)
	}
}

func TestStaleStateDiscarded(t *testing.T) {
	image := testImage(t)
	f := fake(t, testSecret)
	o := options(image)
	o.Name = "test-earlier"
	earlier, err := Publish(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, why string
		st        state
	}{
		{"completed snapshot", "is completed", state{SnapshotID: earlier.SnapshotID, Region: testRegion, Sent: []int64{0}}},
		{"other image", "the image changed", state{SnapshotID: "snap-0000000000000abcd", Region: testRegion, ImageSHA256: "00", ImageSize: 1}},
		{"unknown snapshot", "unknown to EC2", state{SnapshotID: "snap-0000000000000abcd", Region: testRegion}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			if st.ImageSHA256 == "" {
				p, err := makePlan(image)
				if err != nil {
					t.Fatal(err)
				}
				st.ImageSHA256, st.ImageSize = p.digest, p.size
			}
			if err := st.save(StatePath(image)); err != nil {
				t.Fatal(err)
			}
			var notes []string
			o := options(image)
			o.Name = "test-" + strings.ReplaceAll(tc.name, " ", "-")
			o.Note = func(s string) { notes = append(notes, s) }
			res, err := Publish(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Resumed || res.SnapshotID == st.SnapshotID {
				t.Errorf("resumed a stale state: %+v", res)
			}
			if len(notes) != 1 || !strings.Contains(notes[0], "discarding") || !strings.Contains(notes[0], tc.why) {
				t.Errorf("notes %q, want one saying %q", notes, tc.why)
			}
			checkSnapshot(t, f, res.SnapshotID, image)
		})
	}
}

func TestDryRunMakesNoCall(t *testing.T) {
	image := testImage(t)
	f := amitest.New(testRegion, testKey, testSecret)
	defer f.Close()
	isolate(t) // and no credentials at all
	t.Setenv("AWS_ENDPOINT_URL_EBS", f.URL)
	t.Setenv("AWS_ENDPOINT_URL_EC2", f.URL)
	o := options(image)
	o.DryRun = true
	res, err := Publish(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Calls(); len(c) > 0 {
		t.Fatalf("a dry run called %q", c)
	}
	var ops []string
	for _, c := range res.Calls {
		ops = append(ops, c.Service+" "+c.Operation)
	}
	want := []string{"ebs StartSnapshot"}
	for range 5 {
		want = append(want, "ebs PutSnapshotBlock")
	}
	want = append(want, "ebs CompleteSnapshot", "ec2 DescribeSnapshots", "ec2 RegisterImage")
	if !slices.Equal(ops, want) {
		t.Fatalf("dry run lists %q, want %q", ops, want)
	}
	if _, err := os.Stat(StatePath(image)); !os.IsNotExist(err) {
		t.Errorf("a dry run wrote a state file")
	}
}

func TestBadSignatureRefused(t *testing.T) {
	image := testImage(t)
	f := fake(t, "not-the-secret-the-fake-knows")
	_, err := Publish(context.Background(), options(image))
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("publish with a wrong secret: %v, want SignatureDoesNotMatch", err)
	}
	if r := f.Refused(); len(r) != 1 || !strings.Contains(r[0], "StartSnapshot: signature does not match") {
		t.Errorf("refused %q", r)
	}
	if snap := f.Snapshot("snap-00000000000000001"); snap != nil {
		t.Errorf("a refused request started %+v", snap)
	}
	if _, err := os.Stat(StatePath(image)); !os.IsNotExist(err) {
		t.Errorf("a refused start left a state file")
	}
}

func TestNoCredentials(t *testing.T) {
	image := testImage(t)
	f := amitest.New(testRegion, testKey, testSecret)
	defer f.Close()
	isolate(t)
	t.Setenv("AWS_ENDPOINT_URL_EBS", f.URL)
	t.Setenv("AWS_ENDPOINT_URL_EC2", f.URL)
	_, err := Publish(context.Background(), options(image))
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "no credentials") || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("publish without credentials: %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the error is not one line: %q", err)
	}
	if c := f.Calls(); len(c) > 0 {
		t.Errorf("called %q without credentials", c)
	}
}

func TestBadInput(t *testing.T) {
	image := testImage(t)
	isolate(t)
	bare := filepath.Join(t.TempDir(), "bare.img")
	os.WriteFile(bare, []byte{1}, 0o644)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"region typo", Options{Image: image, Region: "us-eest-1"}, "did you mean us-east-1"},
		{"not a region", Options{Image: image, Region: "moon-base"}, "not an AWS region"},
		{"no region", Options{Image: image}, "--region"},
		{"no registration", Options{Image: bare, Region: testRegion}, "imgbuild build --target aws"},
		{"bad name", Options{Image: image, Region: testRegion, Name: "a*b"}, "not allowed"},
		{"no image", Options{Image: image + ".nope", Region: testRegion}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Publish(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"us-east-1", "ap-east-3", "us-gov-west-1", "cn-north-1"} {
		if err := CheckRegion(ok); err != nil {
			t.Errorf("CheckRegion(%s): %v", ok, err)
		}
	}
}

// TestThroughput publishes a real image built with --target aws
// (IMGBUILD_PUBLISH_IMAGE=out/minimal.img) to the fake and logs the
// upload rate; without the variable it is skipped.
func TestThroughput(t *testing.T) {
	src := os.Getenv("IMGBUILD_PUBLISH_IMAGE")
	if src == "" {
		t.Skip("IMGBUILD_PUBLISH_IMAGE not set")
	}
	image := filepath.Join(t.TempDir(), filepath.Base(src))
	for from, to := range map[string]string{src: image, RegistrationPath(src): RegistrationPath(image)} {
		if out, err := exec.Command("cp", "--sparse=always", from, to).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
	}
	f := fake(t, testSecret)
	res, err := Publish(context.Background(), options(image))
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, f, res.SnapshotID, image)
	t.Logf("%d of %d blocks sent (%.1f MiB) in %.2fs: %.1f MiB/s, %d parallel",
		res.BlocksSent, res.BlocksTotal, float64(res.BytesSent)/(1<<20), res.UploadSeconds,
		float64(res.BytesSent)/(1<<20)/res.UploadSeconds, 8)
}
