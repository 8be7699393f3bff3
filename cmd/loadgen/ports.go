package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
)

// ports prints n free TCP ports on 127.0.0.1, one a line (all bound at once, then
// released, so they differ): for scripts that must name a host's ports in advance.
func ports(args []string, stdout, stderr io.Writer) int {
	n := 1
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 64 {
			fmt.Fprintln(stderr, "usage: loadgen ports [N] (1..64)")
			return 2
		}
		n = v
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "loadgen ports:", err)
			return 1
		}
		lns = append(lns, ln)
	}
	for _, ln := range lns {
		fmt.Fprintln(stdout, ln.Addr().(*net.TCPAddr).Port)
	}
	return 0
}
