package main

// openUSR returns the device to mount as /usr for the USR partition. It is
// its own step so that dm-verity can slot in here: set up the verity
// target over p.Dev and return /dev/mapper/usr instead.
func openUSR(p partition, c config) (string, error) {
	return p.Dev, nil
}
