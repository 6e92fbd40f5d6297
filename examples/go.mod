module github.com/lameduck/lameduck/examples

go 1.26.0

require github.com/lameduck/lameduck v0.0.0

replace github.com/lameduck/lameduck => ../
