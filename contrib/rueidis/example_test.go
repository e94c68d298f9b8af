package mmrueidis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	mmrueidis "github.com/mmcache/mmcache/contrib/rueidis"
	"github.com/redis/rueidis"
)

// A rueidis client whose client-side cache lives off the Go heap. The first DoCache asks
// Redis; the next ones are answered locally until Redis says the key changed or its TTL ends.
func Example() {
	cache, err := mmrueidis.New(mmrueidis.Config{Capacity: 64 << 20}) // per connection
	if err != nil {
		log.Fatal(err)
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:     []string{redisAddr}, // your Redis, 6.0 or newer (RESP3 tracking)
		NewCacheStoreFn: cache.NewStore,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close() // closes the stores and unmaps their memory

	ctx := context.Background()
	if err := client.Do(ctx, client.B().Set().Key("greeting").Value("hello").Build()).Error(); err != nil {
		log.Fatal(err)
	}
	for range 3 {
		m, err := client.DoCache(ctx, client.B().Get().Key("greeting").Cache(), time.Minute).ToMessage()
		if err != nil {
			log.Fatal(err)
		}
		v, _ := m.ToString()
		fmt.Println(v, "from the local tier:", m.IsCacheHit())
	}
	st := cache.Stats()
	fmt.Println("round trips:", st.Misses, "local hits:", st.Hits, "too large to cache:", st.TooLarge)
	// Output:
	// hello from the local tier: false
	// hello from the local tier: true
	// hello from the local tier: true
	// round trips: 1 local hits: 2 too large to cache: 0
}
