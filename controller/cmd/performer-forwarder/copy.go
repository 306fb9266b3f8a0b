package main

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// bufferSize is the copy buffer of one direction while bytes flow: an HTTP/2 frame is at most
// 16 KiB unless a peer raises SETTINGS_MAX_FRAME_SIZE.
const bufferSize = 16 << 10

// buffers are shared by every connection: a direction holds one only between a read that has
// bytes and the write that passes them on, so an idle connection holds none.
var buffers = sync.Pool{New: func() any { b := make([]byte, bufferSize); return &b }}

// pair is one forwarded connection: the client's side and the target's.
type pair struct {
	idle     time.Duration
	last     atomic.Int64 // unix nanoseconds of the last byte read from either side
	timedOut atomic.Bool
}

func (p *pair) touch() { p.last.Store(time.Now().UnixNano()) }

// quietFor is how long neither side has sent a byte.
func (p *pair) quietFor(now time.Time) time.Duration { return now.Sub(time.Unix(0, p.last.Load())) }

// pipe copies src to dst until src ends, and returns the bytes copied. A clean end (FIN) is passed
// on as a half-close, so the other direction keeps flowing; an error (reset, closed by shutdown,
// the idle timeout) closes both sides.
//
// Not io.Copy: between two *net.TCPConn io.Copy splices through a pipe from a pool that only the
// garbage collector empties, two descriptors a connection that stay open long after their
// clients left. Here the first read of a burst goes through a pooled buffer, which is quickest for
// the small messages of unary calls; a read that fills the buffer means a large message, and the
// rest of it moves in the kernel through a pipe this direction closes when src runs dry (see
// splice_linux.go).
func (p *pair) pipe(dst, src net.Conn) int64 {
	n, err := p.copy(dst, src)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			return n
		}
	}
	dst.Close()
	src.Close()
	return n
}

func (p *pair) copy(dst, src net.Conn) (int64, error) {
	var raw syscall.RawConn
	if sc, ok := src.(syscall.Conn); ok {
		raw, _ = sc.SyscallConn()
	}
	rdst, rsrc, canSplice := spliceable(dst, src)
	var n int64
	for {
		if err := p.wait(src, raw); err != nil {
			return n, err
		}
		bp := buffers.Get().(*[]byte)
		nr, rerr := src.Read(*bp)
		if nr > 0 {
			p.touch()
			if p.idle > 0 {
				_ = dst.SetWriteDeadline(time.Now().Add(p.idle))
			}
			nw, werr := dst.Write((*bp)[:nr])
			n += int64(nw)
			if werr != nil {
				buffers.Put(bp)
				if errors.Is(werr, os.ErrDeadlineExceeded) {
					p.timedOut.Store(true) // the other side took nothing for the whole idle timeout
				}
				return n, werr
			}
		}
		buffers.Put(bp)
		if rerr == nil && nr == bufferSize && canSplice {
			moved, eof, err := p.spliceBurst(dst, rdst, rsrc)
			n += moved
			if err != nil || eof {
				return n, err
			}
			continue
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			return n, nil
		case !errors.Is(rerr, os.ErrDeadlineExceeded):
			return n, rerr
		case p.quietFor(time.Now()) >= p.idle:
			p.timedOut.Store(true)
			return n, rerr
		}
	}
}

// wait returns once src has something to read (bytes, its end or an error), without holding a
// buffer. It returns os.ErrDeadlineExceeded once neither side sent a byte for the idle timeout:
// the read deadline is pushed on while the other direction is busy.
func (p *pair) wait(src net.Conn, raw syscall.RawConn) error {
	for {
		if p.idle > 0 {
			if err := src.SetReadDeadline(time.Unix(0, p.last.Load()).Add(p.idle)); err != nil {
				return err
			}
		}
		err := waitReadable(raw)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if p.quietFor(time.Now()) >= p.idle {
			p.timedOut.Store(true)
			return err
		}
	}
}
