package probe

import "sync"

// onceEach does each key's work once per Prober: callers asking for the
// same key (services sharing a registry or an image, a Check after a
// Prefetch) wait for the first caller's work and share its answer.
type onceEach[V any] struct {
	mu sync.Mutex
	m  map[string]*onceValue[V]
}

type onceValue[V any] struct {
	once sync.Once
	v    V
}

func (o *onceEach[V]) do(key string, work func() V) V {
	o.mu.Lock()
	if o.m == nil {
		o.m = map[string]*onceValue[V]{}
	}
	e, ok := o.m[key]
	if !ok {
		e = &onceValue[V]{}
		o.m[key] = e
	}
	o.mu.Unlock()
	e.once.Do(func() { e.v = work() })
	return e.v
}
