//go:build !linux

package main

import (
	"net"
	"syscall"
)

// spliceable reports false where the kernel cannot move bytes between two sockets: every byte
// goes through a buffer.
func spliceable(net.Conn, net.Conn) (syscall.RawConn, syscall.RawConn, bool) { return nil, nil, false }

func (p *pair) spliceBurst(net.Conn, syscall.RawConn, syscall.RawConn) (int64, bool, error) {
	return 0, false, nil
}
