package azuretest

import "syscall"

// azuriteProcAttr puts Azurite in its own process group (so stop can kill
// npm's shim and node together) and has the kernel stop it if the test
// binary dies without cleaning up (a test timeout, a kill).
func azuriteProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
