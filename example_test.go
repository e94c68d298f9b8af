package mmcache_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"slices"
	"strconv"
	"time"

	"github.com/mmcache/mmcache"
)

// The body of this example is the README's usage program, line for line (CI compares them).
func Example() {
	c, err := mmcache.New(mmcache.Config{Capacity: 64 << 20}) // 64 MiB off-heap, index included
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	key := []byte("user:42")
	if err := c.Set(key, []byte(`{"name":"Ada"}`)); err != nil { // Config.DefaultTTL applies
		log.Fatal(err)
	}
	if err := c.SetWithTTL([]byte("session:7"), []byte("token"), 30*time.Second); err != nil {
		log.Fatal(err)
	}

	buf := make([]byte, 0, 256)
	buf, ok := c.Get(buf[:0], key) // appends the value to buf: no allocation when buf has room
	fmt.Println(string(buf), ok)

	ok = c.View(key, func(v []byte) { // zero-copy; v is valid only inside the callback
		fmt.Println(len(v), "bytes viewed")
	})
	fmt.Println(ok)

	_, ok = c.Get(buf[:0], []byte("user:43"))
	fmt.Println(ok, c.Len())
	// Output:
	// {"name":"Ada"} true
	// 14 bytes viewed
	// true
	// false 2
}

func ExampleNew() {
	c, err := mmcache.New(mmcache.Config{
		Capacity:   256 << 20,        // the whole mapping: entries, index and bookkeeping
		DefaultTTL: 10 * time.Minute, // for Set; SetWithTTL gives an entry its own
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(c.Len())

	// A Config New cannot honour is an error wrapping ErrInvalidConfig, and maps nothing.
	_, err = mmcache.New(mmcache.Config{Capacity: mmcache.MinCapacity - 1})
	fmt.Println(errors.Is(err, mmcache.ErrInvalidConfig))
	// Output:
	// 0
	// true
}

func ExampleCache_Get() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Set([]byte("k1"), []byte("one"))
	_ = c.Set([]byte("k2"), []byte("two"))

	// Get appends the value to dst: reuse one buffer, and Get allocates nothing once the
	// buffer has room for the values.
	buf := make([]byte, 0, 64)
	for _, k := range []string{"k1", "k2", "k3"} {
		var ok bool
		buf, ok = c.Get(buf[:0], []byte(k))
		fmt.Printf("%s: %q %v\n", k, buf, ok)
	}

	// What dst holds already stays in front of the value.
	line, _ := c.Get([]byte("k1="), []byte("k1"))
	fmt.Println(string(line))
	// Output:
	// k1: "one" true
	// k2: "two" true
	// k3: "" false
	// k1=one
}

func ExampleCache_Delete() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Set([]byte("k"), []byte("v"))

	fmt.Println(c.Delete([]byte("k"))) // it was there
	fmt.Println(c.Delete([]byte("k"))) // not any more
	fmt.Println(c.Has([]byte("k")), c.Len())
	// Output:
	// true
	// false
	// false 0
}

func ExampleCache_Stats() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"a", "b", "c"} {
		_ = c.Set([]byte(k), []byte("value of "+k))
	}
	c.Get(nil, []byte("a"))              // a hit
	c.View([]byte("b"), func([]byte) {}) // a hit
	c.Get(nil, []byte("z"))              // a miss
	c.Delete([]byte("c"))

	s := c.Stats()
	fmt.Printf("entries %d, sets %d, hits %d, misses %d, deletes %d\n",
		s.Entries, s.Sets, s.Hits, s.Misses, s.Deletes)
	// Output:
	// entries 2, sets 3, hits 2, misses 1, deletes 1
}

func ExampleCache_Reset() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for i := range 1000 {
		_ = c.Set(fmt.Appendf(nil, "key-%d", i), []byte("value"))
	}
	fmt.Println(c.Len())

	c.Reset() // every entry goes, and the memory goes back to the operating system
	_, ok := c.Get(nil, []byte("key-1"))
	fmt.Println(c.Len(), ok)

	_ = c.Set([]byte("key-1"), []byte("again")) // the cache stays usable
	v, ok := c.Get(nil, []byte("key-1"))
	fmt.Println(string(v), ok)
	// Output:
	// 1000
	// 0 false
	// again true
}

func ExampleCache_SetWithTTL() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_ = c.SetWithTTL([]byte("k"), []byte("v"), time.Hour)
	left, ok := c.TTL([]byte("k"))
	fmt.Println(ok, left > 59*time.Minute && left <= time.Hour)

	_ = c.SetWithTTL([]byte("forever"), []byte("v"), 0)
	left, ok = c.TTL([]byte("forever"))
	fmt.Println(left, ok)

	err = c.SetWithTTL([]byte("k"), []byte("v"), -time.Second)
	fmt.Println(errors.Is(err, mmcache.ErrInvalidTTL))
	// Output:
	// true true
	// 0s true
	// true
}

func ExampleCache_View() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_ = c.Set([]byte("greeting"), []byte("hello, world"))
	var copied []byte
	c.View([]byte("greeting"), func(v []byte) {
		copied = append(copied, v[:5]...) // copy what must outlive the callback
	})
	fmt.Println(string(copied))
	// Output: hello
}

func ExampleCache_Close() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	_ = c.Set([]byte("k"), []byte("v"))
	fmt.Println(c.Close(), c.Close())
	_, ok := c.Get(nil, []byte("k"))
	fmt.Println(ok, errors.Is(c.Set([]byte("k"), []byte("v")), mmcache.ErrClosed))
	// Output:
	// <nil> <nil>
	// false true
}

func ExampleCache_GetWithTTL() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_ = c.SetWithTTL([]byte("session:7"), []byte("token"), time.Hour)
	v, ttl, ok := c.GetWithTTL(nil, []byte("session:7")) // value and time left in one read
	fmt.Println(string(v), ttl > 59*time.Minute, ok)

	_ = c.Set([]byte("config"), []byte("v1"))
	_, ttl, ok = c.GetWithTTL(nil, []byte("config"))
	fmt.Println(ttl, ok) // 0: it never expires
	// Output:
	// token true true
	// 0s true
}

func ExampleCache_Touch() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_ = c.SetWithTTL([]byte("session:7"), []byte("token"), time.Minute)
	ok, err := c.Touch([]byte("session:7"), time.Hour) // a sliding expiry, value unchanged
	ttl, _ := c.TTL([]byte("session:7"))
	fmt.Println(ok, err, ttl > 59*time.Minute)

	ok, err = c.Touch([]byte("session:8"), time.Hour)
	fmt.Println(ok, err) // no such entry
	// Output:
	// true <nil> true
	// false <nil>
}

func ExampleCache_SetIfAbsent() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A lock with a lease: of any number of goroutines, exactly one gets it.
	got, _ := c.SetIfAbsent([]byte("lock:job-9"), []byte("worker-1"), 30*time.Second)
	fmt.Println(got)
	got, _ = c.SetIfAbsent([]byte("lock:job-9"), []byte("worker-2"), 30*time.Second)
	fmt.Println(got)
	// Output:
	// true
	// false
}

func ExampleCache_GetOrSet() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	v, loaded, _ := c.GetOrSet(nil, []byte("greeting"), []byte("hello"), 0)
	fmt.Println(string(v), loaded)
	v, loaded, _ = c.GetOrSet(nil, []byte("greeting"), []byte("bonjour"), 0)
	fmt.Println(string(v), loaded) // the value stored first
	// Output:
	// hello false
	// hello true
}

func ExampleCache_CompareAndSwap() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A counter that concurrent writers increment without a lock of their own: read, compute,
	// and swap only if nobody changed it meanwhile, or else try again.
	key := []byte("hits")
	_ = c.Set(key, []byte("0"))
	for range 3 {
		for {
			old, _ := c.Get(nil, key)
			n, _ := strconv.Atoi(string(old))
			if ok, _ := c.CompareAndSwap(key, old, strconv.AppendInt(nil, int64(n+1), 10), 0); ok {
				break
			}
		}
	}
	v, _ := c.Get(nil, key)
	fmt.Println(string(v))
	// Output:
	// 3
}

func ExampleCache_All() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for _, k := range []string{"b", "a", "c"} {
		_ = c.Set([]byte(k), []byte("value of "+k))
	}
	var lines []string
	for k, v := range c.All() { // k and v are valid until the next step: copy what you keep
		lines = append(lines, string(k)+" = "+string(v))
	}
	slices.Sort(lines) // the order is unspecified
	fmt.Println(lines)
	// Output:
	// [a = value of a b = value of b c = value of c]
}

func ExampleConfig_onRemoval() {
	c, err := mmcache.New(mmcache.Config{
		Capacity: 8 << 20,
		// Called after the operation, with no lock held, on the goroutine that caused it.
		OnRemoval: func(key, value []byte, cause mmcache.RemovalCause) {
			fmt.Printf("%s %s (was %s)\n", cause, key, value)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_ = c.Set([]byte("k"), []byte("v1"))
	_ = c.Set([]byte("k"), []byte("v2"))
	c.Delete([]byte("k"))
	// Output:
	// replaced k (was v1)
	// deleted k (was v2)
}

// Save writes a snapshot while the cache serves; Load adds it to another cache, of any shape.
// A file on tmpfs (/dev/shm) carries it across a restart; here a buffer does.
func ExampleCache_Save() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for i := range 1000 {
		_ = c.SetWithTTL([]byte("session:"+strconv.Itoa(i)), []byte("state"), time.Hour)
	}
	var snap bytes.Buffer
	if err := c.Save(&snap); err != nil {
		log.Fatal(err)
	}

	next, err := mmcache.New(mmcache.Config{Capacity: 16 << 20, Shards: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer next.Close()
	n, err := next.Load(&snap)
	fmt.Println(n, err)
	_, ttl, ok := next.GetWithTTL(nil, []byte("session:7"))
	fmt.Println(ok, ttl > 59*time.Minute)

	// A snapshot cut short is refused.
	n, err = next.Load(bytes.NewReader([]byte("mmcsnap\x00 and nothing more")))
	fmt.Println(n, errors.Is(err, mmcache.ErrBadSnapshot))
	// Output:
	// 1000 <nil>
	// true true
	// 0 true
}
