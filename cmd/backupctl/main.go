// Command backupctl runs the /backup command language from a terminal,
// doing the work in-process with no Redis and no chat.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

func main() {
	stop := startProfile(os.Getenv("BACKUPCTL_CPUPROFILE"))
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile of the whole run to path (for
// `go tool pprof`) when path is set: BACKUPCTL_CPUPROFILE=cpu.out
// backupctl create ... It returns the function that ends the profile.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "backupctl: cannot write the CPU profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "backupctl: cannot start the CPU profile: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "backupctl: writing the CPU profile: %v\n", err)
		}
	}
}
