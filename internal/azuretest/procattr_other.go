//go:build !linux

package azuretest

import "syscall"

// azuriteProcAttr puts Azurite in its own process group so stop can kill it
// with its children.
func azuriteProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
