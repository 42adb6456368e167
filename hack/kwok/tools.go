//go:build tools

// Package tools pins kwok, the fake node that runs the Pods of Jobs to completion,
// and kwokctl, which wires the control plane together. kwok follows newer
// Kubernetes libraries than the control plane, so it lives in a module of its own.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
	_ "sigs.k8s.io/kwok/cmd/kwokctl"
)
