package mmcache_test

import (
	"errors"
	"fmt"
	"log"
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
		Capacity:     256 << 20,        // the whole mapping: entries, index and bookkeeping
		AvgEntrySize: 100,              // expected key+value size, which sizes the index
		DefaultTTL:   10 * time.Minute, // for Set; SetWithTTL gives an entry its own
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
