print("proscenium-bench")
