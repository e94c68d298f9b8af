package mmcache_test

import (
	"fmt"
	"time"

	"github.com/mmcache/mmcache"
)

// The README's usage snippet, as a test.
func Example() {
	c, err := mmcache.New(mmcache.Config{Capacity: 64 << 20}) // 64 MiB off-heap, index included
	if err != nil {
		panic(err)
	}
	defer c.Close()

	key, value := []byte("user:42"), []byte(`{"name":"Ada"}`)
	if err := c.Set(key, value); err != nil { // Config.DefaultTTL applies
		panic(err)
	}
	if err := c.SetWithTTL([]byte("session:7"), []byte("token"), 30*time.Second); err != nil {
		panic(err)
	}

	buf := make([]byte, 0, 64)
	buf, ok := c.Get(buf[:0], key) // appends the value to buf: no allocation when buf has room
	fmt.Println(string(buf), ok)

	ok = c.View(key, func(v []byte) { // zero-copy; v is valid only inside the callback
		fmt.Println(len(v), "bytes viewed")
	})
	fmt.Println(ok)

	_, ok = c.Get(buf[:0], []byte("absent"))
	fmt.Println(ok, c.Len())
	// Output:
	// {"name":"Ada"} true
	// 14 bytes viewed
	// true
	// false 2
}

func ExampleCache_SetWithTTL() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	_ = c.SetWithTTL([]byte("k"), []byte("v"), time.Hour)
	left, ok := c.TTL([]byte("k"))
	fmt.Println(ok, left > 59*time.Minute && left <= time.Hour)

	_ = c.SetWithTTL([]byte("forever"), []byte("v"), 0)
	left, ok = c.TTL([]byte("forever"))
	fmt.Println(left, ok)

	err = c.SetWithTTL([]byte("k"), []byte("v"), -time.Second)
	fmt.Println(err != nil)
	// Output:
	// true true
	// 0s true
	// true
}

func ExampleCache_View() {
	c, err := mmcache.New(mmcache.Config{Capacity: 8 << 20})
	if err != nil {
		panic(err)
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
		panic(err)
	}
	_ = c.Set([]byte("k"), []byte("v"))
	fmt.Println(c.Close(), c.Close())
	_, ok := c.Get(nil, []byte("k"))
	fmt.Println(ok, c.Set([]byte("k"), []byte("v")))
	// Output:
	// <nil> <nil>
	// false mmcache: cache is closed
}
