package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// delayProxyEnv makes the test binary a TCP proxy that adds a fixed
// one-way latency to every byte in both directions (without limiting the
// bandwidth): "LISTEN>TARGET/DELAY", e.g. "0.0.0.0:7071>127.0.0.1:7070/10ms".
// The multi-host test runs it on the svc host in front of the S3 server to
// model object storage across a network (20 ms round trip), so the
// workers' throughput is not just the share of this machine's CPU they get.
const delayProxyEnv = "BACKUPBOT_TEST_DELAYPROXY"

func runDelayProxy(spec string) int {
	listen, rest, ok1 := strings.Cut(spec, ">")
	target, d, ok2 := strings.Cut(rest, "/")
	delay, err := time.ParseDuration(d)
	if !ok1 || !ok2 || err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: want LISTEN>TARGET/DELAY\n", delayProxyEnv, spec)
		return 2
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { delayedCopy(u, c, delay); done <- struct{}{} }()
			go func() { delayedCopy(c, u, delay); done <- struct{}{} }()
			<-done
		}()
	}
}

// delayedCopy copies src to dst, each chunk delivered delay after it was read.
func delayedCopy(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	ch := make(chan chunk, 4096)
	go func() {
		defer close(ch)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{append([]byte(nil), buf[:n]...), time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at.Add(delay)))
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_ = dst.(io.Closer).Close()
	}
}
