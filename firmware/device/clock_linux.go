package device

import "syscall"

// timeError is adjtimex's TIME_ERROR state: the kernel's clock is not
// synchronized (no NTP daemon has disciplined it, or it lost sync).
const timeError = 5

// clockSynced tells whether the wall clock is synchronized, so that call
// records can say whether their start times can be trusted. A read-only
// adjtimex (Modes 0) needs no privilege.
func clockSynced() bool {
	var tx syscall.Timex
	state, err := syscall.Adjtimex(&tx)
	return err == nil && state != timeError
}
