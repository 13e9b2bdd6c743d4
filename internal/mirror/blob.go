package mirror

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// sourceBlob is a v1.Layer the pusher uploads from: it knows its descriptor
// (so no HEAD is needed for size), opens the source only if the target lacks
// the blob, and remembers whether it was opened and any source-side error.
type sourceBlob struct {
	ctx      context.Context
	puller   *remote.Puller
	ref      name.Digest
	desc     v1.Descriptor
	streamed func(int64)

	mu     sync.Mutex
	open   bool
	read   int64 // bytes reported by the current attempt
	srcErr error
	sent   bool // the target has it; set by the uploading goroutine only
}

func (b *sourceBlob) Digest() (v1.Hash, error) { return b.desc.Digest, nil }
func (b *sourceBlob) DiffID() (v1.Hash, error) {
	return v1.Hash{}, errors.New("diff ID not needed to copy")
}
func (b *sourceBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *sourceBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *sourceBlob) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("copying never decompresses")
}

func (b *sourceBlob) Compressed() (io.ReadCloser, error) {
	b.mu.Lock()
	b.open = true
	// The pusher opens the blob again when it retries an upload: take back
	// what the failed attempt reported, so progress counts each byte once.
	back := b.read
	b.read = 0
	b.mu.Unlock()
	if back > 0 {
		b.streamed(-back)
	}
	l, err := b.puller.Layer(b.ctx, b.ref)
	if err != nil {
		return nil, b.setErr(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, b.setErr(err)
	}
	return &countingReader{rc: rc, b: b}, nil
}

func (b *sourceBlob) setErr(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srcErr == nil {
		b.srcErr = err
	}
	return err
}

func (b *sourceBlob) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srcErr
}

func (b *sourceBlob) opened() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

type countingReader struct {
	rc io.ReadCloser
	b  *sourceBlob
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.b.mu.Lock()
		r.b.read += int64(n)
		r.b.mu.Unlock()
		r.b.streamed(int64(n))
	}
	if err != nil && err != io.EOF {
		r.b.setErr(err)
	}
	return n, err
}

func (r *countingReader) Close() error { return r.rc.Close() }
