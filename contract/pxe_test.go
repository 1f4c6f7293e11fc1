package contract

import (
	"strings"
	"testing"
)

func TestIsPXE(t *testing.T) {
	for cmdline, want := range map[string]bool{
		"console=ttyS0 imgbuild.pxe=1":               true,
		"imgbuild.pxe=1 imgbuild.pxe=0":              false, // the last one wins, as in the kernel
		"imgbuild.slot=a imgbuild.usr=PARTUUID=x":    false,
		"imgbuild.pxe=no":                            false,
		strings.Join(PXEArgs("m.pxe.initrd"), " "):   true,
		"imgbuild.pxe.other=1 ximgbuild.pxe=1 quiet": false,
	} {
		if got := IsPXE(cmdline); got != want {
			t.Errorf("IsPXE(%q) = %v, want %v", cmdline, got, want)
		}
	}
	if got := strings.Join(PXEArgs("m.pxe.initrd"), " "); got != "initrd=m.pxe.initrd imgbuild.pxe=1" {
		t.Errorf("PXEArgs = %q", got)
	}
	if got := strings.Join(PXEArgs(""), " "); got != "imgbuild.pxe=1" {
		t.Errorf("PXEArgs without initrd = %q", got)
	}
}
