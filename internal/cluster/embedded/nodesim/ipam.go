package nodesim

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// errPoolExhausted is returned when every address of a pool is taken.
var errPoolExhausted = errors.New("no free address")

// ipPool hands out the addresses of an IPv4 prefix, skipping the network
// address, the first host (a gateway, by convention) and the broadcast
// address. Each address is held by an owner key, so that a pod or Service
// that is seen again keeps its address.
type ipPool struct {
	prefix netip.Prefix

	mu      sync.Mutex
	byOwner map[string]netip.Addr
	byAddr  map[netip.Addr]string
	next    netip.Addr
}

func newIPPool(cidr string) (*ipPool, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("%q is not a CIDR", cidr)
	}
	if !p.Addr().Is4() || p.Bits() > 30 {
		return nil, fmt.Errorf("%q: want an IPv4 prefix of /30 or wider", cidr)
	}
	p = p.Masked()
	return &ipPool{
		prefix:  p,
		byOwner: map[string]netip.Addr{},
		byAddr:  map[netip.Addr]string{},
		next:    first(p),
	}, nil
}

// first is the first address handed out: network address + 2.
func first(p netip.Prefix) netip.Addr {
	return p.Addr().Next().Next()
}

// usable reports whether a is an address the pool hands out.
func (p *ipPool) usable(a netip.Addr) bool {
	if !p.prefix.Contains(a) || a.Less(first(p.prefix)) {
		return false
	}
	// The broadcast address is the last one, whose successor leaves the prefix.
	return p.prefix.Contains(a.Next())
}

// allocate returns owner's address, taking a free one if it has none. It
// scans from where the last allocation stopped, so a released address is not
// reused at once (a client might still hold it).
func (p *ipPool) allocate(owner string) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.byOwner[owner]; ok {
		return a, nil
	}
	start := p.next
	a := start
	for {
		if _, taken := p.byAddr[a]; !taken && p.usable(a) {
			p.byOwner[owner] = a
			p.byAddr[a] = owner
			p.next = p.advance(a)
			return a, nil
		}
		a = p.advance(a)
		if a == start {
			return netip.Addr{}, errPoolExhausted
		}
	}
}

// advance is the next usable address after a, wrapping around.
func (p *ipPool) advance(a netip.Addr) netip.Addr {
	n := a.Next()
	if !p.usable(n) {
		return first(p.prefix)
	}
	return n
}

// reserve records that owner already holds a, as found in the cluster. It
// reports false if a is outside the pool or held by someone else.
func (p *ipPool) reserve(owner string, a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.usable(a) {
		return false
	}
	if holder, taken := p.byAddr[a]; taken {
		return holder == owner
	}
	if old, ok := p.byOwner[owner]; ok {
		delete(p.byAddr, old)
	}
	p.byOwner[owner] = a
	p.byAddr[a] = owner
	return true
}

// release frees owner's address, if it has one.
func (p *ipPool) release(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.byOwner[owner]; ok {
		delete(p.byOwner, owner)
		delete(p.byAddr, a)
	}
}
