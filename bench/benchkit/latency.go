package benchkit

import (
	"net"
	"time"
)

// LatencyProxy forwards TCP connections to target, delaying every chunk of
// bytes by oneWay in each direction, as a database across a network would
// (Azure Database for PostgreSQL from a cluster in the same region: about
// half a millisecond each way). Chunks keep their order and are delayed
// independently, so pipelined requests stay pipelined. It returns the
// proxy's address and a function that stops it.
func LatencyProxy(target string, oneWay time.Duration) (addr string, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Check(err)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // stopped
			}
			go func() {
				s, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go delayCopy(s, c, oneWay)
				delayCopy(c, s, oneWay)
			}()
		}
	}()
	return l.Addr().String(), func() { l.Close() }
}

// delayCopy copies from src to dst, each chunk oneWay after it was read,
// and closes both when either side ends.
func delayCopy(dst, src net.Conn, oneWay time.Duration) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	chunks := make(chan chunk, 1024)
	go func() {
		defer close(chunks)
		for {
			b := make([]byte, 64<<10)
			n, err := src.Read(b)
			if n > 0 {
				chunks <- chunk{b[:n], time.Now().Add(oneWay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.b); err != nil {
			src.Close() // ends the reader, which closes chunks
		}
	}
	dst.Close()
	src.Close()
}
