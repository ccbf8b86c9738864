// Command envctl brings up declared Kubernetes environments. See internal/cli.
package main

import (
	"os"

	"github.com/envctl/envctl/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.StdStreams()))
}
