// Command seed fills an Azure Blob container with a small set of sample
// images for the demo. The images are drawn here (simple shapes on plain
// backgrounds), so the repository ships no binary assets and no licence
// questions arise.
//
//	go run ./scripts/seed -endpoint http://127.0.0.1:10000/devstoreaccount1 -container demo-images
//
// It imports only the standard library and the Azure SDK.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// azuriteKey is the Azure storage emulator's well-known, public development
// key; it opens nothing but a local emulator.
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:10000/devstoreaccount1", "blob service URL of the emulator account")
	account := flag.String("account", "devstoreaccount1", "storage account name")
	containers := flag.String("container", "demo-images", "containers to create, comma-separated; images go into the first")
	count := flag.Int("count", 8, "images to upload")
	show := flag.String("show", "", "instead of seeding, print the blobs of this container and the content of the first one")
	flag.Parse()
	ctx := context.Background()

	cred, err := azblob.NewSharedKeyCredential(*account, azuriteKey)
	check(err)
	client, err := azblob.NewClientWithSharedKeyCredential(*endpoint, cred, nil)
	check(err)
	if *show != "" {
		showContainer(ctx, client, *show)
		return
	}
	names := strings.Split(*containers, ",")
	for _, c := range names {
		if _, err := client.CreateContainer(ctx, c, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			log.Fatalf("create container %s: %v", c, err)
		}
	}
	shapes := []string{"circle", "square"}
	for i := range *count {
		shape := shapes[i%len(shapes)]
		key := fmt.Sprintf("images/%s-%02d.png", shape, i+1)
		_, err := client.UploadBuffer(ctx, names[0], key, drawPNG(shape, i), &azblob.UploadBufferOptions{
			HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("image/png")},
		})
		check(err)
	}
	fmt.Printf("uploaded %d images to %s/images/\n", *count, names[0])
}

// showContainer prints every blob name of a container and the first blob's
// content, which is how the demo proves an annotation reached Azure.
func showContainer(ctx context.Context, client *azblob.Client, name string) {
	pager := client.NewListBlobsFlatPager(name, nil)
	first := ""
	for pager.More() {
		page, err := pager.NextPage(ctx)
		check(err)
		for _, b := range page.Segment.BlobItems {
			fmt.Println(*b.Name)
			if first == "" {
				first = *b.Name
			}
		}
	}
	if first == "" {
		fmt.Println("(empty)")
		return
	}
	resp, err := client.DownloadStream(ctx, name, first, nil)
	check(err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	check(err)
	fmt.Printf("--- %s ---\n%s\n", first, buf.String())
}

// drawPNG draws one 320×240 picture: a coloured circle or square, placed and
// tinted by i so every task looks different.
func drawPNG(shape string, i int) []byte {
	const w, h = 320, 240
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bg := color.RGBA{230, 236, 242, 255}
	fg := color.RGBA{uint8(40 + 25*i), uint8(120 + 10*i), uint8(200 - 15*i), 255}
	cx, cy, r := 80+i*20, 120, 50
	for y := range h {
		for x := range w {
			dx, dy := x-cx, y-cy
			inside := dx*dx+dy*dy <= r*r
			if shape == "square" {
				inside = dx >= -r && dx < r && dy >= -r && dy < r
			}
			if inside {
				img.Set(x, y, fg)
			} else {
				img.Set(x, y, bg)
			}
		}
	}
	var buf bytes.Buffer
	check(png.Encode(&buf, img))
	return buf.Bytes()
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
