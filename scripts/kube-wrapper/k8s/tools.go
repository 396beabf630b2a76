// Blank imports keep the control-plane commands' dependencies in this module's go.mod/go.sum, so that
// `go build k8s.io/kubernetes/cmd/<name>` from here is pinned by the committed go.sum.
package main

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {}
