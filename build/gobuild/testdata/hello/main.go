// Command hello is the smallest on-image program, for gobuild's tests.
package main

func main() { println("hello") }
