// Command centrifugepeer is the Centrifuge peer of Herald's hub benchmark: a server built on
// github.com/centrifugal/centrifuge (the library behind Centrifugo) and a load driver built on
// its Go client, github.com/centrifugal/centrifuge-go.
//
//	centrifugepeer serve --addr 127.0.0.1:0
//	centrifugepeer load --url ws://ADDR/connection/websocket --scenario broadcast --conns 10000 ...
//
// serve.go is the server, load.go runs a scenario and prints one JSON line, clients.go opens and
// closes the driver's connections, scenarios.go holds the four scenarios, histogram.go the
// latency histogram and proc.go the reading of /proc.
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  centrifugepeer serve [--addr 127.0.0.1:0]
  centrifugepeer load --url ws://ADDR/connection/websocket --scenario idle|broadcast|echo|group
                      [--conns N] [--duration 10s] [--server-pid PID] [--rate R] [--payload 100]
                      [--source-ips 127.0.0.1,127.0.0.2,...]
run "centrifugepeer serve --help" or "centrifugepeer load --help" for every flag`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serveMain(os.Args[2:])
	case "load":
		err = loadMain(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "centrifugepeer: unknown command %q\n%s\n", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "centrifugepeer %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
