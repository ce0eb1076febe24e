// Package sdkhttp is the HTTP client kmsd's own AWS SDK for Go v2 clients
// use (its admin commands, kmsbench and the tests that drive a server):
// the SDK's default client, except that each request body is handed to
// net/http as an in-memory reader.
//
// Why: the SDK wraps a request body in a closer of its own and closes it
// as soon as the response's headers arrive. net/http does not know that
// body as one held in memory, so it sends the headers, then the body, and
// then reads the body once more to check that nothing is left over. When
// the server answers before that last read, the read meets the closed
// body, gets io.EOF from its WriteTo as an error, and net/http closes the
// connection while the answer is still arriving: an answer larger than
// the client's 4 KiB read buffer (an ML-DSA signature, a page of keys, a
// large key policy) then fails with "use of closed network connection".
// The SDK's default retryer retries that error; a client with retries
// off reports it. With the body in memory, net/http writes headers and
// body together and never reads the SDK's closer after the request went.
package sdkhttp
