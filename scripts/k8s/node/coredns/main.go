// Cluster DNS for the local node: CoreDNS with only the plugins it needs (answers <service>.<namespace>.svc.cluster.local
// from the API server), so the build stays small. install.sh --node builds it in a scratch module.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

// CoreDNS runs a server block's plugins in this order (a subset of its plugin.cfg, same relative order).
func init() {
	dnsserver.Directives = []string{"bind", "errors", "cache", "kubernetes"}
}

func main() {
	coremain.Run()
}
