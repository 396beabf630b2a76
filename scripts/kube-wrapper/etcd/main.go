// Wrapper that builds etcd for the tests' Kubernetes control plane from the Go module proxy:
// go.etcd.io/etcd/server/v3 cannot be `go install`ed (its go.mod has replace lines). Built by scripts/kube.sh.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
