package groupcache_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/groupcache/groupcache-go/v3"
	"github.com/groupcache/groupcache-go/v3/transport"
	"github.com/groupcache/groupcache-go/v3/transport/peer"

	mmgroupcache "github.com/mmcache/mmcache/contrib/groupcache"
)

// Example starts one groupcache node whose main and hot caches live in mmcache. A cluster is
// the same on every node, with every node's address in SetPeers.
func Example() {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	caches := mmgroupcache.NewFactory(mmgroupcache.Options{})
	defer caches.Close() // groupcache never closes its caches: close them after Shutdown

	d, err := groupcache.ListenAndServe(ctx, "127.0.0.1:0", groupcache.Options{
		CacheFactory: caches.New,
		Logger:       quiet,
		Transport:    transport.NewHttpTransport(transport.HttpTransportOptions{Logger: quiet}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Shutdown(ctx)
	if err := d.SetPeers(ctx, []peer.Info{{Address: d.ListenAddress()}}); err != nil {
		log.Fatal(err)
	}

	loads := 0
	users, err := d.NewGroup("users", 64<<20, groupcache.GetterFunc( // 56 MiB main, 8 MiB hot
		func(ctx context.Context, key string, dest transport.Sink) error {
			loads++
			return dest.SetString("profile of "+key, time.Now().Add(time.Minute)) // cached for a minute
		}))
	if err != nil {
		log.Fatal(err)
	}

	var profile string
	for range 2 {
		if err := users.Get(ctx, "ada", transport.StringSink(&profile)); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(profile)
	fmt.Println("loads:", loads, "refused by the cache:", caches.Errors().Total())
	// Output:
	// profile of ada
	// loads: 1 refused by the cache: 0
}
