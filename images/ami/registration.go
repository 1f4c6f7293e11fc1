package ami

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/imgbuild/imgbuild/build/output"
)

// RegistrationPath is where imgbuild build --target aws wrote the
// registration of image NAME.img: NAME.aws.json beside it.
func RegistrationPath(image string) string {
	return strings.TrimSuffix(image, ".img") + ".aws.json"
}

// LoadRegistration reads and checks the registration beside image.
func LoadRegistration(image string) (*output.AWSRegistration, error) {
	path := RegistrationPath(image)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no registration file beside the image: build it with imgbuild build --target aws", path)
	}
	if err != nil {
		return nil, fmt.Errorf("registration: %w", err)
	}
	var r output.AWSRegistration
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkRegistration(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// checkRegistration refuses what RegisterImage would refuse later, after
// the whole upload.
func checkRegistration(r *output.AWSRegistration) error {
	switch {
	case r.Name == "":
		return errors.New("name is empty")
	case r.Architecture != "x86_64":
		return fmt.Errorf("architecture %q: only x86_64 is built", r.Architecture)
	case r.BootMode != "uefi":
		return fmt.Errorf("boot_mode %q: the image boots only with uefi", r.BootMode)
	case r.VirtualizationType != "hvm":
		return fmt.Errorf("virtualization_type %q: must be hvm", r.VirtualizationType)
	case !strings.HasPrefix(r.RootDeviceName, "/dev/"):
		return fmt.Errorf("root_device_name %q: must be a /dev/ name", r.RootDeviceName)
	case r.VolumeSizeGiB < 1:
		return fmt.Errorf("volume_size_gib %d: must be at least 1", r.VolumeSizeGiB)
	}
	return checkName(r.Name)
}

// checkName applies EC2's rule for AMI names: 3 to 128 characters of
// letters, digits and ()[] ./-'@_ (EC2 would refuse it after the upload).
func checkName(name string) error {
	if len(name) < 3 || len(name) > 128 {
		return fmt.Errorf("AMI name %q: must be 3 to 128 characters", name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("()[] ./-'@_", c)
		if !ok {
			return fmt.Errorf("AMI name %q: %q is not allowed (letters, digits and ()[] ./-'@_ are)", name, c)
		}
	}
	return nil
}
