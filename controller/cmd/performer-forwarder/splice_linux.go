//go:build linux

package main

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// spliceChunk is the most one splice moves from a socket into the pipe: a pipe's default
// capacity. Larger pipes (F_SETPIPE_SZ, up to 1 MiB) measured the same throughput in make bench,
// and each busy connection would pin up to that much kernel memory, charged to the sidecar's
// memory limit.
const spliceChunk = 64 << 10

// kpipe is a kernel pipe that a busy direction moves bytes through without copying them into
// this process.
type kpipe struct{ r, w int }

func openPipe() (*kpipe, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	return &kpipe{r: fds[0], w: fds[1]}, nil
}

func (k *kpipe) close() {
	syscall.Close(k.r)
	syscall.Close(k.w)
}

// spliceable returns the raw sockets of a TCP pair, or ok false where every byte goes through a
// buffer.
func spliceable(dst, src net.Conn) (rdst, rsrc syscall.RawConn, ok bool) {
	d, dok := dst.(*net.TCPConn)
	s, sok := src.(*net.TCPConn)
	if !dok || !sok {
		return nil, nil, false
	}
	var err error
	if rdst, err = d.SyscallConn(); err != nil {
		return nil, nil, false
	}
	if rsrc, err = s.SyscallConn(); err != nil {
		return nil, nil, false
	}
	return rdst, rsrc, true
}

// spliceBurst moves what src has now to dst through a pipe in the kernel, without copying the
// bytes into this process, and closes the pipe once src has nothing more to read: an idle
// connection holds its two sockets and nothing more. It reports src's end as eof.
func (p *pair) spliceBurst(dst net.Conn, rdst, rsrc syscall.RawConn) (int64, bool, error) {
	k, err := openPipe()
	if err != nil {
		return 0, false, err
	}
	defer k.close()
	return p.burst(k, dst, rdst, rsrc)
}

// burst moves what src has into dst until src has nothing more to read now (EAGAIN), ends, or
// fails, and returns the bytes passed on.
func (p *pair) burst(k *kpipe, dst net.Conn, rdst, rsrc syscall.RawConn) (n int64, eof bool, err error) {
	for {
		var in int
		var serr error
		if cerr := rsrc.Read(func(fd uintptr) bool {
			for {
				in, serr = splice(int(fd), k.w, spliceChunk)
				if serr != syscall.EINTR {
					return true // never wait here: wait peeks without holding the pipe
				}
			}
		}); errors.Is(cerr, os.ErrDeadlineExceeded) {
			// The read deadline wait set has passed while this burst wrote: wait decides whether
			// the connection is idle and sets the next one.
			return n, false, nil
		} else if cerr != nil {
			return n, false, cerr
		}
		switch {
		case serr == syscall.EAGAIN:
			return n, false, nil
		case serr != nil:
			return n, false, os.NewSyscallError("splice", serr)
		case in == 0:
			return n, true, nil
		}
		p.touch()
		out, werr := p.drain(k, dst, rdst, in)
		n += int64(out)
		if werr != nil {
			return n, false, werr
		}
	}
}

// drain moves want bytes from the pipe to dst, waiting for dst to take them for at most the idle
// timeout at a time.
func (p *pair) drain(k *kpipe, dst net.Conn, rdst syscall.RawConn, want int) (int, error) {
	if p.idle > 0 {
		_ = dst.SetWriteDeadline(time.Now().Add(p.idle))
	}
	var out int
	var serr error
	cerr := rdst.Write(func(fd uintptr) bool {
		for out < want {
			m, err := splice(k.r, int(fd), want-out)
			switch {
			case m > 0:
				out += m
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				return false // dst's buffer is full: wait until it takes more
			case err == nil:
				serr = io.ErrUnexpectedEOF // the pipe held less than was spliced into it
				return true
			default:
				serr = err
				return true
			}
		}
		return true
	})
	switch {
	case cerr != nil:
		if errors.Is(cerr, os.ErrDeadlineExceeded) {
			p.timedOut.Store(true) // the other side took nothing for the whole idle timeout
		}
		return out, cerr
	case serr != nil:
		return out, os.NewSyscallError("splice", serr)
	}
	return out, nil
}

func splice(from, to, max int) (int, error) {
	n, err := syscall.Splice(from, nil, to, nil, max, spliceMove|spliceNonblock)
	return int(n), err
}

const (
	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
)
