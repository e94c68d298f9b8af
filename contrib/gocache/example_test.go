package gocache_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/store"
	redis_store "github.com/eko/gocache/store/redis/v4"
	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/contrib/gocache"
	"github.com/redis/go-redis/v9"
)

// The store on its own, behind gocache's cache.Cache, with tags. This runs without a
// redis-server; Example_chain shows the store in front of Redis.
func Example() {
	local, err := gocache.New(gocache.Config{
		Cache: mmcache.Config{Capacity: 16 << 20}, // 16 MiB off-heap, index included
	}, store.WithExpiration(time.Minute)) // the default expiration of a Set
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()

	c := cache.New[string](local)
	ctx := context.Background()
	_ = c.Set(ctx, "user:42", `{"name":"Ada"}`, store.WithTags([]string{"users"}))
	_ = c.Set(ctx, "page:home", "<html>", store.WithExpiration(10*time.Second))

	v, ttl, err := c.GetWithTTL(ctx, "user:42")
	fmt.Println(v, ttl > 0 && ttl <= time.Minute, err)

	_ = c.Invalidate(ctx, store.WithInvalidateTags([]string{"users"}))
	_, err = c.Get(ctx, "user:42")
	fmt.Println(err)
	v, _ = c.Get(ctx, "page:home")
	fmt.Println(v, local.Stats().TooLarge)
	// Output:
	// {"name":"Ada"} true <nil>
	// value not found in store
	// <html> 0
}

// The store first in a chain, in front of the Redis store, whose client reads TTLs to the
// millisecond through PreciseTTL. It needs a redis-server, so it is compiled but not run.
func Example_chain() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()
	local, err := gocache.New(gocache.Config{
		Cache:  mmcache.Config{Capacity: 256 << 20},
		MaxTTL: time.Minute, // bounds how stale a copy may get when another process writes Redis
	})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()

	chain := cache.NewChain[string](
		cache.New[string](local),
		cache.New[string](redis_store.NewRedis(gocache.PreciseTTL{Cmdable: rdb})),
	)
	defer chain.Close() // before local.Close: the chain's goroutine writes to local

	ctx := context.Background()
	_ = chain.Set(ctx, "session:7", "token", store.WithExpiration(30*time.Second))
	token, _ := chain.Get(ctx, "session:7") // local: no round trip
	fmt.Println(token)
}
