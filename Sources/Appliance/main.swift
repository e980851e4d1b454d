print("proscenium-node")
