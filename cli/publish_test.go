package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/images/ami"
	"github.com/imgbuild/imgbuild/images/ami/amitest"
)

// publishFixture writes a small sparse image with its registration and
// starts the EBS/EC2 fake with the SDK's environment pointed at it.
func publishFixture(t *testing.T) (string, *amitest.Server) {
	dir := t.TempDir()
	image := filepath.Join(dir, "tiny.img")
	f, err := os.Create(image)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(3<<20 + 4096)
	f.WriteAt([]byte("boot"), 0)
	f.WriteAt([]byte("tail"), 3<<20+4000)
	f.Close()
	reg := `{"name":"tiny-1.0.0","description":"tiny 1.0.0 (imgbuild)","architecture":"x86_64","boot_mode":"uefi",
"ena_support":true,"imds_support":"v2.0","root_device_name":"/dev/xvda","virtualization_type":"hvm","volume_size_gib":1}`
	os.WriteFile(filepath.Join(dir, "tiny.aws.json"), []byte(reg), 0o644)

	srv := amitest.New("eu-west-1", "AKIDCLITEST", "cli-test-secret")
	t.Cleanup(srv.Close)
	srv.SetPendingPolls(0)
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCLITEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "cli-test-secret")
	t.Setenv("AWS_ENDPOINT_URL_EBS", srv.URL)
	t.Setenv("AWS_ENDPOINT_URL_EC2", srv.URL)
	return image, srv
}

func TestPublishAWS(t *testing.T) {
	image, srv := publishFixture(t)
	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr},
		[]string{"publish", "aws", image, "--region", "eu-west-1", "--json"})
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var res ami.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}
	if _, ok := srv.Images()[res.ImageID]; !ok || res.BlocksSent != 2 || res.BlocksTotal != 7 {
		t.Fatalf("result %+v; the fake has %v", res, srv.Images())
	}
	if r := srv.Refused(); len(r) > 0 {
		t.Fatalf("refused: %q", r)
	}
}

func TestPublishAWSDryRun(t *testing.T) {
	image, srv := publishFixture(t)
	code, out := run(t, "publish", "aws", image, "--region", "eu-west-1", "--dry-run")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := strings.Count(out, "ebs PutSnapshotBlock "); n != 2 || !strings.Contains(out, "ec2 RegisterImage ") ||
		!strings.Contains(out, "ImdsSupport=v2.0") || !strings.Contains(out, "ChecksumAggregationMethod=LINEAR") {
		t.Fatalf("dry run output (%d block puts):\n%s", n, out)
	}
	if c := srv.Calls(); len(c) > 0 {
		t.Fatalf("a dry run called %q", c)
	}
}

func TestPublishAWSBadInput(t *testing.T) {
	image, srv := publishFixture(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"publish", "aws", image}, ExitUsage, "--region is required"},
		{[]string{"publish", "aws", image, "--region", "eu-wset-1"}, ExitFailure, "did you mean eu-west-1"},
		{[]string{"publish", "aws", strings.TrimSuffix(image, "tiny.img") + "none.img", "--region", "eu-west-1"}, ExitFailure, "no such file"},
		{[]string{"publish", "gcp", image}, ExitFailure, "unknown command"},
	} {
		code, out := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%q: exit %d, want %d and %q\n%s", tc.args, code, tc.code, tc.want, out)
		}
	}
	os.Remove(ami.RegistrationPath(image))
	code, out := run(t, "publish", "aws", image, "--region", "eu-west-1")
	if code != ExitFailure || !strings.Contains(out, "--target aws") {
		t.Errorf("without a registration: exit %d\n%s", code, out)
	}
	if c := srv.Calls(); len(c) > 0 {
		t.Errorf("bad input reached the fake: %q", c)
	}
	if _, err := os.Stat(ami.StatePath(image)); !os.IsNotExist(err) {
		t.Errorf("bad input left a state file")
	}
}
