package supervise

import (
	"time"

	"golang.org/x/sys/unix"
)

// sinceBoot is the time since the kernel started (CLOCK_BOOTTIME), the
// clock of the console's timing lines.
func sinceBoot() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
