fn main() {
    println!("perf-report: not built yet");
}
