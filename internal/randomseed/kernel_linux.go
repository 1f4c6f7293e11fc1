package randomseed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux is the running kernel's /dev/urandom and getrandom(2).
type Linux struct{}

// Add credits through the RNDADDENTROPY ioctl (root only); uncredited
// bytes are written to /dev/urandom, which mixes them in.
func (Linux) Add(b []byte, creditBits int) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if creditBits == 0 {
		_, err := f.Write(b)
		return err
	}
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	info := make([]byte, 8+len(b)+3)
	binary.NativeEndian.PutUint32(info[0:], uint32(creditBits))
	binary.NativeEndian.PutUint32(info[4:], uint32(len(b)))
	copy(info[8:], b)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&info[0]))); errno != 0 {
		return fmt.Errorf("RNDADDENTROPY: %w", errno)
	}
	return nil
}

// Read never waits: when the pool is not ready yet it takes what
// GRND_INSECURE (or, before Linux 5.6, /dev/urandom) gives.
func (Linux) Read(b []byte) (bool, error) {
	if n, err := unix.Getrandom(b, unix.GRND_NONBLOCK); err == nil && n == len(b) {
		return true, nil
	} else if err != nil && !errors.Is(err, unix.EAGAIN) {
		return false, fmt.Errorf("getrandom: %w", err)
	}
	if n, err := unix.Getrandom(b, unix.GRND_INSECURE); err == nil && n == len(b) {
		return false, nil
	}
	f, err := os.Open("/dev/urandom")
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Read(b)
	return false, err
}

// Ready reports whether the kernel's pool is initialized, without
// waiting.
func Ready() bool {
	var b [1]byte
	_, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK)
	return err == nil
}

// WaitReady blocks until the pool is initialized. A blocking getrandom
// also makes the kernel generate entropy from CPU timing jitter (Linux
// 5.4 and later), so it returns within seconds even with no RDRAND or
// virtio-rng; call it off the boot path.
func WaitReady() error {
	var b [1]byte
	for {
		_, err := unix.Getrandom(b[:], 0)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
