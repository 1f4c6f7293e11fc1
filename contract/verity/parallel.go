package verity

import (
	"sync"
	"sync/atomic"
)

// forChunks runs do(c) for every chunk c in [0, chunks) on up to workers
// goroutines, each with its own state from newWorker. Chunks are handed
// out in increasing order and no chunk is started after a lower one has
// failed, so the error returned is always that of the lowest failing
// chunk: "the first bad block" does not depend on scheduling.
func forChunks(chunks uint64, workers int, newWorker func() func(c uint64) error) error {
	workers = max(1, min(workers, int(min(chunks, 1<<16))))
	var (
		next     atomic.Uint64
		mu       sync.Mutex
		badChunk = chunks
		firstErr error
		wg       sync.WaitGroup
	)
	failedBefore := func(c uint64) bool {
		mu.Lock()
		defer mu.Unlock()
		return c > badChunk
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do := newWorker()
			for {
				c := next.Add(1) - 1
				if c >= chunks || failedBefore(c) {
					return
				}
				if err := do(c); err != nil {
					mu.Lock()
					if c < badChunk {
						badChunk, firstErr = c, err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
