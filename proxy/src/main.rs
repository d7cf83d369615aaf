fn main() {
    println!("filter-proxy: not built yet");
}
