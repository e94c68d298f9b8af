package goredis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/go-redis/cache/v9"
	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/contrib/goredis"
	"github.com/redis/go-redis/v9"
)

// The local tier on its own: without Redis the host keeps its items there only, for
// Config.TTL. This runs without a redis-server; Example_withRedis shows the full wiring.
func Example() {
	local, err := goredis.New(goredis.Config{
		Cache: mmcache.Config{Capacity: 16 << 20}, // 16 MiB off-heap, index included
		TTL:   time.Minute,                        // the longest a local copy lives
	})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()

	c := cache.New(&cache.Options{LocalCache: local})
	ctx := context.Background()
	if err := c.Set(&cache.Item{Ctx: ctx, Key: "user:42", Value: []byte(`{"name":"Ada"}`)}); err != nil {
		log.Fatal(err)
	}
	var v []byte
	if err := c.Get(ctx, "user:42", &v); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(v))
	err = c.Get(ctx, "user:43", &v)
	fmt.Println(err)

	left, _ := local.TTL("user:42")
	fmt.Println(left > 0 && left <= time.Minute)
	st := local.Stats()
	fmt.Println(st.Hits, st.Misses, st.TooLarge)
	// Output:
	// {"name":"Ada"}
	// cache: key is missing
	// true
	// 1 1 0
}

// The full wiring: the Redis client goes through the Local, so that each local copy lives no
// longer than its key in Redis. It needs a redis-server, so it is compiled but not run.
func Example_withRedis() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()
	local, err := goredis.New(goredis.Config{Cache: mmcache.Config{Capacity: 256 << 20}, TTL: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()

	c := cache.New(&cache.Options{
		Redis:      local.Redis(rdb), // the item's TTL and Redis's PTTL reach the local tier
		LocalCache: local,
	})
	ctx := context.Background()
	_ = c.Set(&cache.Item{Ctx: ctx, Key: "session:7", Value: "token", TTL: 30 * time.Second})
	var token string
	_ = c.Get(ctx, "session:7", &token) // local: no round trip
	fmt.Println(token, local.Stats().TooLarge)
}
