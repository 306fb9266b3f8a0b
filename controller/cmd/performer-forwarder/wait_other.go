//go:build !unix

package main

import "syscall"

// waitReadable returns at once where peeking a socket is not available: the read that follows
// waits with its buffer.
func waitReadable(syscall.RawConn) error { return nil }
