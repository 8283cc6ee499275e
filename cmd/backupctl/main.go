// Command backupctl runs the /backup command language from a terminal,
// doing the work in-process with no Redis and no chat.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
