//go:build unix

package main

import "syscall"

// waitReadable blocks until the socket has bytes, its end or an error to read, or until its read
// deadline. It peeks instead of reading, so that no buffer waits with it. A nil raw returns at
// once, and the read that follows waits with its buffer.
func waitReadable(raw syscall.RawConn) error {
	if raw == nil {
		return nil
	}
	var b [1]byte
	return raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN && err != syscall.EINTR
	})
}
